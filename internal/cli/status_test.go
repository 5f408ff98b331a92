package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestStatusFunctionsTable(t *testing.T) {
	at := time.Now().Add(-90 * time.Second).UTC().Format(time.RFC3339Nano)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			fmt.Fprintf(w, `{"status":"healthy","agent":{"status":"ok"},"pools":[
				{"function":"hello","idle":1,"busy":1,"max_capacity":10,"circuit_breaker":"closed",
				 "last_error":{"kind":"function","message":"ValueError:\n boom","request_id":"r-1","at":%q}},
				{"function":"quiet","max_capacity":2,"circuit_breaker":"closed"}]}`, at)
		case "/metrics":
			fmt.Fprint(w, "esb_function_cold_starts_total{function=\"hello\"} 3\n"+
				"esb_function_invocations_total{function=\"hello\",result=\"success\"} 7\n"+
				"esb_function_errors_total{function=\"hello\",kind=\"function\"} 2\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := printFunctions(context.Background(), &out, srv.URL); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"FUNCTION", "hello", "quiet", "2 (function 2)",
		"Last errors:", "hello: function, 1m30s ago (request r-1): ValueError: boom",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "quiet: ") {
		t.Errorf("a function without errors has no last error:\n%s", got)
	}
}
