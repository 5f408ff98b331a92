// Command chatty is a Lambda custom runtime (provided.al2023 style) for the
// log pipeline's tests: for each invoke it prints the lines the event asks
// for, to stdout and stderr, then answers. Standard library only.
//
// Event: {"lines": N, "stderr": M, "json": true, "exit": true}
//   - N lines "out <request id> <i>" on stdout,
//   - M lines "err <request id> <i>" on stderr,
//   - with json, one structured line {"level":"warn","message":"json <request id>","n":1},
//   - with exit, the process exits with status 1 instead of answering.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

type event struct {
	Lines  int  `json:"lines"`
	Stderr int  `json:"stderr"`
	JSON   bool `json:"json"`
	Exit   bool `json:"exit"`
}

func main() {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/invocation/"
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	errw := bufio.NewWriterSize(os.Stderr, 64<<10)
	for {
		resp, err := http.Get(api + "next")
		if err != nil {
			fmt.Fprintln(os.Stderr, "next:", err)
			os.Exit(2)
		}
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ev event
		json.Unmarshal(body, &ev)
		for i := 0; i < ev.Lines; i++ {
			fmt.Fprintf(out, "out %s %d\n", id, i)
		}
		for i := 0; i < ev.Stderr; i++ {
			fmt.Fprintf(errw, "err %s %d\n", id, i)
		}
		if ev.JSON {
			fmt.Fprintf(out, `{"level":"warn","message":"json %s","n":1}`+"\n", id)
		}
		out.Flush()
		errw.Flush()
		if ev.Exit {
			os.Exit(1)
		}
		r, err := http.Post(api+id+"/response", "application/json", strings.NewReader(`{"ok":true}`))
		if err != nil {
			fmt.Fprintln(os.Stderr, "response:", err)
			os.Exit(2)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
}
