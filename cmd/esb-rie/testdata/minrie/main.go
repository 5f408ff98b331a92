// Command minrie is the protocol floor the esb-rie benchmarks compare with:
// the smallest correct Lambda Runtime API emulator. It serves the invoke
// endpoint and, on a private loopback port, the Runtime API's /next and
// /response, and runs one runtime. No logs, no timeouts, no error paths, no
// state machine: what is left is the protocol's own cost (three HTTP
// exchanges and the hand-offs between them) on Go's net/http.
//
//	minrie [--listen addr] <bootstrap> [args…]
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// invocation is one event on its way to the runtime and its answer back.
type invocation struct {
	id    string
	event []byte
	done  chan []byte
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address of the invoke endpoint")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: minrie [--listen addr] <bootstrap> [args…]")
		os.Exit(2)
	}
	if err := run(*listen, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "minrie:", err)
		os.Exit(1)
	}
}

func run(listen string, bootstrap []string) error {
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the runtime API: %w", err)
	}
	next := make(chan *invocation)
	var mu sync.Mutex
	var current *invocation // the invoke the runtime is working on
	rt := http.NewServeMux()
	rt.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		var inv *invocation
		select {
		case inv = <-next:
		case <-r.Context().Done():
			return
		}
		mu.Lock()
		current = inv
		mu.Unlock()
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:function")
		w.Write(inv.event)
	})
	rt.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inv := current
		if inv != nil && inv.id == r.PathValue("id") {
			current = nil
		} else {
			inv = nil
		}
		mu.Unlock()
		if inv == nil {
			http.Error(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		inv.done <- body
	})
	go http.Serve(api, rt)

	cmd := exec.Command(bootstrap[0], bootstrap[1:]...)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+api.Addr().String())
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // the runtime dies with minrie
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bootstrap[0], err)
	}
	var seq int64
	invoke := http.NewServeMux()
	invoke.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, r *http.Request) {
		event, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		seq++
		inv := &invocation{id: "req-" + strconv.FormatInt(seq, 10), event: event, done: make(chan []byte, 1)}
		mu.Unlock()
		next <- inv // one invoke at a time: the runtime takes the next only after answering
		w.Header().Set("Content-Type", "application/json")
		w.Write(<-inv.done)
	})
	return http.ListenAndServe(listen, invoke)
}
