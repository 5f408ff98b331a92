package s3_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// browser is headless Chromium driven over the DevTools protocol.
type browser struct {
	cmd     *exec.Cmd
	wsURL   string // browser endpoint
	httpURL string
}

// chromiumFlags are the flags CI uses: no network of its own, no first-run
// work, a fresh profile.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-dev-shm-usage", "--window-size=1280,900", "--remote-debugging-port=0",
	"--remote-allow-origins=http://127.0.0.1",
}

func startChromium(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("Debian's chromium is needed (apt-get install -y chromium): %v", err)
	}
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir(), "about:blank")
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	var lines strings.Builder
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			lines.WriteString(line + "\n")
			mu.Unlock()
			if i := strings.Index(line, "ws://"); i >= 0 && strings.Contains(line, "DevTools listening") {
				found <- strings.TrimSpace(line[i:])
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case ws := <-found:
		rest := strings.TrimPrefix(ws, "ws://")
		return &browser{cmd: cmd, wsURL: ws, httpURL: "http://" + rest[:strings.Index(rest, "/")]}
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("chromium did not print its DevTools address within 30 s:\n%s", lines.String())
		return nil
	}
}

// cdp is one DevTools connection (to the browser or to a page).
type cdp struct {
	ws      *websocket.Conn
	next    atomic.Int64
	mu      sync.Mutex
	pending map[int64]chan cdpReply
	events  chan cdpEvent
}

type cdpReply struct {
	Result json.RawMessage
	Err    error
}

type cdpEvent struct {
	Method string
	Params json.RawMessage
}

func dialCDP(t *testing.T, url string) *cdp {
	t.Helper()
	ws, err := websocket.Dial(url, "", "http://127.0.0.1")
	if err != nil {
		t.Fatalf("connect to DevTools %s: %v", url, err)
	}
	ws.MaxPayloadBytes = 64 << 20
	c := &cdp{ws: ws, pending: map[int64]chan cdpReply{}, events: make(chan cdpEvent, 256)}
	t.Cleanup(func() { ws.Close() })
	go c.read()
	return c
}

func (c *cdp) read() {
	for {
		var msg struct {
			ID     int64           `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if err := websocket.JSON.Receive(c.ws, &msg); err != nil {
			c.mu.Lock()
			for id, ch := range c.pending {
				ch <- cdpReply{Err: fmt.Errorf("DevTools connection closed: %w", err)}
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		if msg.ID == 0 {
			select {
			case c.events <- cdpEvent{msg.Method, msg.Params}:
			default:
			}
			continue
		}
		c.mu.Lock()
		ch := c.pending[msg.ID]
		delete(c.pending, msg.ID)
		c.mu.Unlock()
		if ch == nil {
			continue
		}
		if msg.Error != nil {
			ch <- cdpReply{Err: fmt.Errorf("DevTools error %d: %s", msg.Error.Code, msg.Error.Message)}
		} else {
			ch <- cdpReply{Result: msg.Result}
		}
	}
}

// call sends one command and decodes its result into out (if not nil).
func (c *cdp) call(ctx context.Context, method string, params any, out any) error {
	id := c.next.Add(1)
	ch := make(chan cdpReply, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	if err := websocket.JSON.Send(c.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return fmt.Errorf("%s: %w", method, r.Err)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// page is a browser tab.
type page struct {
	t   *testing.T
	ctx context.Context
	c   *cdp
}

func (b *browser) firstPage(t *testing.T, ctx context.Context) *page {
	t.Helper()
	var targets []struct {
		Type                 string `json:"type"`
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(b.httpURL + "/json/list")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
		}
		for _, tg := range targets {
			if tg.Type == "page" {
				p := &page{t: t, ctx: ctx, c: dialCDP(t, tg.WebSocketDebuggerURL)}
				p.must("Page.enable", nil, nil)
				p.must("Runtime.enable", nil, nil)
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no page target in chromium: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *page) must(method string, params, out any) {
	p.t.Helper()
	if err := p.c.call(p.ctx, method, params, out); err != nil {
		p.t.Fatal(err)
	}
}

// eval runs JavaScript in the page and returns its (JSON) value.
func (p *page) eval(expr string) json.RawMessage {
	p.t.Helper()
	var out struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	p.must("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &out)
	if out.ExceptionDetails != nil {
		p.t.Fatalf("JavaScript %q threw: %s %s", expr, out.ExceptionDetails.Text, out.ExceptionDetails.Exception.Description)
	}
	return out.Result.Value
}

// waitFor polls a JavaScript condition until it is true.
func (p *page) waitFor(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if string(p.eval("!!("+cond+")")) == "true" {
			return
		}
		if time.Now().After(deadline) {
			status := p.eval(`document.getElementById("status") ? document.getElementById("status").textContent : ""`)
			p.t.Fatalf("timed out waiting for %s (%s); status line: %s", what, cond, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *page) navigate(url string) {
	p.t.Helper()
	p.must("Page.navigate", map[string]any{"url": url}, nil)
	p.waitFor("page load", `document.readyState === "complete" && location.href.startsWith(`+jsString(url)+`)`)
}

// click presses and releases the mouse over the centre of the element, as a
// user would.
func (p *page) click(selector string) {
	p.t.Helper()
	p.waitFor("element "+selector, `(() => { const e = document.querySelector(`+jsString(selector)+`); return e && e.offsetParent !== null; })()`)
	var box struct{ X, Y float64 }
	raw := p.eval(`(() => { const e = document.querySelector(` + jsString(selector) + `); e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect(); return {X: r.x + r.width / 2, Y: r.y + r.height / 2}; })()`)
	if err := json.Unmarshal(raw, &box); err != nil {
		p.t.Fatal(err)
	}
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		params := map[string]any{"type": typ, "x": box.X, "y": box.Y, "button": "left", "clickCount": 1}
		if typ == "mouseMoved" {
			params["button"] = "none"
		}
		p.must("Input.dispatchMouseEvent", params, nil)
	}
}

// typeInto focuses an input and types text.
func (p *page) typeInto(selector, text string) {
	p.t.Helper()
	p.click(selector)
	p.must("Input.insertText", map[string]any{"text": text}, nil)
}

// setFile puts a local file into an <input type=file>.
func (p *page) setFile(selector, path string) {
	p.t.Helper()
	var doc struct {
		Root struct {
			NodeID int `json:"nodeId"`
		} `json:"root"`
	}
	p.must("DOM.getDocument", nil, &doc)
	var q struct {
		NodeID int `json:"nodeId"`
	}
	p.must("DOM.querySelector", map[string]any{"nodeId": doc.Root.NodeID, "selector": selector}, &q)
	p.must("DOM.setFileInputFiles", map[string]any{"files": []string{path}, "nodeId": q.NodeID}, nil)
}

// screenshot saves a PNG of the page.
func (p *page) screenshot(path string) {
	p.t.Helper()
	var out struct {
		Data string `json:"data"`
	}
	p.must("Page.captureScreenshot", map[string]any{"format": "png"}, &out)
	png, err := base64.StdEncoding.DecodeString(out.Data)
	if err != nil {
		p.t.Fatal(err)
	}
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		p.t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func jsonUnmarshal(raw json.RawMessage, v any) error { return json.Unmarshal(raw, v) }
