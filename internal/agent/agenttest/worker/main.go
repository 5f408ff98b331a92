// Command worker is the agent tests' stand-in for esb-rie: a static HTTP
// server on :8080 with esb-rie's invoke endpoint and /healthz, plus /check,
// which reports what the container looks like from inside.
//
//	worker                 serve
//	worker --exit N        print a line to each stream and exit with code N
//	worker --once          print the listening line, then exit 0 (benchmark baseline)
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "--exit" {
		code, _ := strconv.Atoi(os.Args[2])
		fmt.Println("worker: bootstrap starting")
		fmt.Fprintln(os.Stderr, "worker: bootstrap failed: boom")
		os.Exit(code)
	}
	l, err := net.Listen("tcp", ":8080")
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
	fmt.Println("worker listening on :8080")
	if len(os.Args) == 2 && os.Args[1] == "--once" {
		return
	}
	fmt.Fprintln(os.Stderr, "worker: stderr works")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("POST /2015-03-31/functions/function/invocations", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("invoked with %s\n", body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"function": os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), "event": json.RawMessage(body)})
	})
	mux.HandleFunc("GET /check", func(w http.ResponseWriter, r *http.Request) {
		res := check()
		if addr := r.URL.Query().Get("dial"); addr != "" {
			c, err := net.DialTimeout("tcp", addr, 3*time.Second)
			if err != nil {
				res["dial"] = err.Error()
			} else {
				c.Close()
				res["dial"] = "ok"
			}
		}
		json.NewEncoder(w).Encode(res)
	})
	http.Serve(l, mux)
}

// check reports the container's environment, resolved host aliases, file
// system writability and privileges.
func check() map[string]any {
	hosts := map[string][]string{}
	for _, h := range []string{"s3-storage", "database", "gateway", "victorialogs"} {
		addrs, err := net.LookupHost(h)
		if err != nil {
			addrs = []string{"error: " + err.Error()}
		}
		hosts[h] = addrs
	}
	status, _ := os.ReadFile("/proc/self/status")
	field := func(name string) string {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	writable := func(path string) bool {
		err := os.WriteFile(path, []byte("x"), 0o644)
		os.Remove(path)
		return err == nil
	}
	// keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0): a seccomp filter refuses it.
	keyctl := "allowed"
	if _, _, errno := syscall.Syscall(syscall.SYS_KEYCTL, 0, ^uintptr(2), 0); errno != 0 {
		keyctl = errno.Error()
	}
	return map[string]any{
		"seccomp":      field("Seccomp"),
		"keyctl":       keyctl,
		"env":          os.Environ(),
		"hosts":        hosts,
		"root_write":   writable("/probe"),
		"tmp_write":    writable("/tmp/probe"),
		"cap_eff":      field("CapEff"),
		"cap_bnd":      field("CapBnd"),
		"no_new_privs": field("NoNewPrivs"),
		"uid":          os.Getuid(),
	}
}
