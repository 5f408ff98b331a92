package console

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	s := &Server{cfg: Config{AccessKey: "admin", SecretKey: "secret-123"}, sessions: map[string]time.Time{}}
	s.cfg.Logger = discardLogger()
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func TestConsoleServesEmbeddedAssets(t *testing.T) {
	ts := newTestServer(t)
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		resp, err := http.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("%s: %s", p, resp.Status)
		}
		if strings.Contains(string(body), "http://") && p == "/" || strings.Contains(string(body), "https://") {
			t.Errorf("%s references an external URL", p)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no Content-Security-Policy", p)
		}
	}
}

func TestConsoleRequiresSignIn(t *testing.T) {
	ts := newTestServer(t)
	resp, err := http.Get(ts.URL + "/api/buckets")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("unauthenticated: %s", resp.Status)
	}
	login := func(secret string) *http.Response {
		resp, err := http.Post(ts.URL+"/api/login", "application/json", strings.NewReader(`{"accessKey":"admin","secretKey":"`+secret+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := login("wrong"); r.StatusCode != 401 || len(r.Cookies()) != 0 {
		t.Fatalf("wrong secret: %s %v", r.Status, r.Cookies())
	}
	r := login("secret-123")
	if r.StatusCode != 200 || len(r.Cookies()) != 1 {
		t.Fatalf("sign in: %s", r.Status)
	}
	cookie := r.Cookies()[0]
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie flags: %+v", cookie)
	}
	// A state-changing request without the console's header is refused.
	req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/api/object?bucket=b&key=k", nil)
	req.AddCookie(cookie)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]string
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(e["error"], csrfHeader) {
		t.Fatalf("DELETE without %s: %s %v", csrfHeader, resp.Status, e)
	}
	// Presign refuses more than 7 days before touching S3.
	req, _ = http.NewRequest(http.MethodPost, ts.URL+"/api/presign", strings.NewReader(`{"bucket":"b","key":"k","seconds":700000}`))
	req.AddCookie(cookie)
	req.Header.Set(csrfHeader, "1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("presign over 7 days: %s", resp.Status)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
