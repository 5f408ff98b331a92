package logs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestE2ELogs runs `esb up` (containerd mode, VictoriaLogs as the managed
// log store) on testdata/chain and checks what `esb logs` finds:
//   - the product description's own test: caller (Go) invokes callee
//     asynchronously through the Lambda API; one invoke of caller with a
//     trace header, and `esb logs --trace-id` finds both functions' lines and
//     the gateway's;
//   - a Python function that prints, logs with logging and raises: each
//     invoke's lines by request id, START first and REPORT last, with their
//     levels; `esb logs pyfail --level error` shows the exception only.
func TestE2ELogs(t *testing.T) {
	_, ctrdAddr := testDaemons(t)
	vlBin := victoriaLogsBinary(t)
	bin := t.TempDir()
	os.Chmod(bin, 0o755)
	for _, b := range []string{"esb", "esb-rie"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(bin, b), "./cmd/"+b)
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", b, err, out)
		}
	}

	// The project: testdata/chain with a go.mod carrying esb's requirements.
	root := t.TempDir()
	os.Chmod(root, 0o755)
	dir := filepath.Join(root, "logs-chain")
	if out, err := exec.Command("cp", "-R", "testdata/chain", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy project: %v\n%s", err, out)
	}
	mod, _ := os.ReadFile(filepath.Join(repoRoot(), "go.mod"))
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module chain"))
	sum, _ := os.ReadFile(filepath.Join(repoRoot(), "go.sum"))
	os.WriteFile(filepath.Join(dir, "go.mod"), mod, 0o644)
	os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644)
	os.WriteFile(filepath.Join(dir, "generator.yml"), []byte("app:\n  name: logs-chain\n  tag: e2e\npaths:\n  sam_template: template.yaml\n  output_dir: .esb/\n"), 0o644)

	const base = 29000 // below the ephemeral port range, so no client socket holds one
	port := func(off int) string { return strconv.Itoa(base + off) }
	vlListen := "127.0.0.1:" + port(28)
	env := append(os.Environ(),
		"ESB_MODE=containerd", "CONTAINERD_ADDRESS="+ctrdAddr, "CONTAINERD_NAMESPACE=esb-logse2e",
		"CNI_NETWORK=esb-logse2e", "CNI_BRIDGE=esblge2e0", "CNI_SUBNET=10.218.0.0/16",
		"GATEWAY_PORT="+port(43), "GATEWAY_HTTP_PORT="+port(80),
		"ESB_DYNAMODB_LISTEN=:"+port(1), "ESB_S3_LISTEN=:"+port(2), "ESB_S3_CONSOLE_LISTEN=off",
		"ESB_CACHE_DIR="+filepath.Join(root, "cache"), "ESB_TEMPLATE=", "ESB_ENV=",
		"VICTORIALOGS_BIN="+vlBin, "ESB_VICTORIALOGS_LISTEN="+vlListen, "VICTORIALOGS_URL=", "ESB_LOG_DIR=",
	)
	esb := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "esb"), args...)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := esb("base", "build", "python3.12"); err != nil {
		t.Fatalf("esb base build python3.12: %v\n%s", err, out)
	}
	out, err := esb("up", "--wait")
	t.Cleanup(func() {
		if out, err := esb("down"); err != nil {
			t.Errorf("esb down: %v\n%s", err, out)
		}
	})
	if err != nil {
		gw, _ := os.ReadFile(filepath.Join(dir, ".esb", "state", "logs", "gateway.out"))
		t.Fatalf("esb up --wait: %v\n%s\ngateway.out:\n%s", err, out, gw)
	}
	if !strings.Contains(out, "victorialogs") {
		t.Errorf("esb up does not show VictoriaLogs:\n%s", out)
	}

	// One invoke of caller through the Lambda Invoke API, signed with the
	// project's keys, carrying a trace header.
	sec := map[string]string{}
	data, err := os.ReadFile(filepath.Join(dir, ".esb", "state", "secrets.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			sec[k] = v
		}
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: nil}}
	invoke := func(fn, payload, trace string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+port(80)+"/2015-03-31/functions/"+fn+"/invocations", strings.NewReader(payload))
		if trace != "" {
			req.Header.Set("X-Amzn-Trace-Id", trace)
		}
		req.Header.Set("Content-Type", "application/json")
		h := sha256.Sum256([]byte(payload))
		creds := aws.Credentials{AccessKeyID: sec["AWS_ACCESS_KEY_ID"], SecretAccessKey: sec["AWS_SECRET_ACCESS_KEY"]}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(h[:]), "lambda", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	root1 := fmt.Sprintf("1-%08x-%024x", time.Now().Unix(), time.Now().UnixNano())
	resp, body := invoke("caller", `{"n":7}`, "Root="+root1+";Parent=53995c3f42cd8ad8;Sampled=1")
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "" || !strings.Contains(body, `"queued":202`) {
		t.Fatalf("invoke caller: %s %s", resp.Status, body)
	}

	// esb logs --trace-id finds caller's and callee's lines, and the gateway's.
	var records []map[string]string
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := esb("logs", "--trace-id", root1, "--json")
		records = records[:0]
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r map[string]string
			if json.Unmarshal([]byte(line), &r) == nil {
				records = append(records, r)
			}
		}
		if err == nil && hasMsg(records, "callee", "callee structured n=7") && hasMsg(records, "caller", "caller queued callee: status 202") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("esb logs --trace-id %s: %v\n%s", root1, err, out)
		}
		time.Sleep(time.Second)
	}
	for _, want := range []struct{ fn, msg string }{
		{"caller", "caller got n=7"}, {"caller", "caller invoking callee for n=7"}, {"caller", "START RequestId: "},
		{"caller", "REPORT RequestId: "}, {"callee", "callee got n=7"}, {"callee", "END RequestId: "},
	} {
		if !hasMsg(records, want.fn, want.msg) {
			t.Errorf("no %s line %q in the trace", want.fn, want.msg)
		}
	}
	services := map[string]bool{}
	for _, r := range records {
		services[r["service"]] = true
		if r["trace_root"] != root1 {
			t.Errorf("record of another trace: %v", r)
		}
	}
	if !services["gateway"] || !services["function"] {
		t.Errorf("services in the trace: %v", services)
	}

	// A Python function: print, logging at two levels, an exception; each
	// invoke's lines by its request id, with their levels.
	okResp, _ := invoke("pyfail", `{"n":1}`, "")
	failResp, failBody := invoke("pyfail", `{"n":2,"fail":true}`, "")
	if okResp.StatusCode != 200 || failResp.Header.Get("X-Amz-Function-Error") != "Unhandled" || !strings.Contains(failBody, "ValueError") {
		t.Fatalf("pyfail: %s / %s %s", okResp.Status, failResp.Status, failBody)
	}
	byRequest := func(id string, want int) []map[string]string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, err := esb("logs", "--request-id", id, "--json")
			var rs []map[string]string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var r map[string]string
				if json.Unmarshal([]byte(line), &r) == nil && r["service"] == "function" {
					rs = append(rs, r)
				}
			}
			if err == nil && len(rs) >= want && strings.HasPrefix(rs[len(rs)-1]["_msg"], "REPORT") {
				return rs
			}
			if time.Now().After(deadline) {
				t.Fatalf("esb logs --request-id %s: %v\n%s", id, err, out)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	levelOf := func(rs []map[string]string, text string) string {
		for _, r := range rs {
			if strings.Contains(r["_msg"], text) {
				return r["level"]
			}
		}
		return "(missing)"
	}
	okID := okResp.Header.Get("X-Amzn-RequestId")
	rs := byRequest(okID, 5)
	if !strings.HasPrefix(rs[0]["_msg"], "START RequestId: "+okID) {
		t.Errorf("pyfail ok: first record %q", rs[0]["_msg"])
	}
	for text, level := range map[string]string{"pyfail printing n=1": "info", "pyfail info n=1": "info", "pyfail warning n=1": "warn"} {
		if got := levelOf(rs, text); got != level {
			t.Errorf("pyfail ok: %q at level %s, want %s", text, got, level)
		}
	}
	failID := failResp.Header.Get("X-Amzn-RequestId")
	rs = byRequest(failID, 5)
	for text, level := range map[string]string{"pyfail warning n=2": "warn", "pyfail failed n=2": "error"} {
		if got := levelOf(rs, text); got != level {
			t.Errorf("pyfail failing: %q at level %s, want %s\n%v", text, got, level, rs)
		}
	}
	if out, _ := esb("logs", "pyfail", "--level", "error"); !strings.Contains(out, "pyfail failed n=2") || strings.Contains(out, "n=1") {
		t.Errorf("esb logs pyfail --level error:\n%s", out)
	}

	// The readable form, by function.
	out, err = esb("logs", "callee", "--tail", "5")
	if err != nil || !strings.Contains(out, "callee       | callee got n=7") {
		t.Errorf("esb logs callee: %v\n%s", err, out)
	}
}

// hasMsg reports whether a record of function fn has a message holding text.
func hasMsg(rs []map[string]string, fn, prefix string) bool {
	for _, r := range rs {
		if r["function"] == fn && strings.Contains(r["_msg"], prefix) {
			return true
		}
	}
	return false
}
