package route

import (
	"strings"
	"testing"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

func table(t *testing.T, api string, specs ...string) *Table {
	t.Helper()
	var rs []manifest.Route
	for _, s := range specs {
		f := strings.Fields(s) // "METHOD /path function [rest|http]"
		r := manifest.Route{Method: f[0], Path: f[1], Function: f[2]}
		if len(f) > 3 {
			r.API = f[3]
		}
		rs = append(rs, r)
	}
	tb, err := New(rs, api)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestPrecedenceHTTPAPI(t *testing.T) {
	// The example of the HTTP API guide: GET /pets/dog/1 > GET /pets/dog/{id} >
	// GET /pets/{proxy+} > ANY /{proxy+}.
	tb := table(t, manifest.APIHTTP,
		"get /pets/dog/1 exact",
		"get /pets/dog/{id} param",
		"get /pets/{proxy+} greedy",
		"any /{proxy+} root",
		"post /pets/dog/{id} postparam",
		"get / home",
	)
	cases := []struct {
		method, path, fn string
		params           string
	}{
		{"GET", "/pets/dog/1", "exact", ""},
		{"GET", "/pets/dog/2", "param", "id=2"},
		{"GET", "/pets/cat/2", "greedy", "proxy=cat/2"},
		{"GET", "/pets/dog/1/x", "greedy", "proxy=dog/1/x"},
		{"DELETE", "/pets/dog/2", "root", "proxy=pets/dog/2"}, // HTTP API: route+method pairs
		{"POST", "/pets/dog/2", "postparam", "id=2"},
		{"PUT", "/x", "root", "proxy=x"},
		{"GET", "/", "home", ""},
		{"GET", "/pets/dog/2/", "param", "id=2"}, // trailing slash ignored
	}
	var m Match
	for _, c := range cases {
		if !tb.Lookup(c.method, c.path, &m) {
			t.Errorf("%s %s: no match, want %s", c.method, c.path, c.fn)
			continue
		}
		if m.Target.Function != c.fn {
			t.Errorf("%s %s: matched %s (%s), want %s", c.method, c.path, m.Target.Function, m.Target.RouteKey, c.fn)
		}
		var ps []string
		for _, p := range m.Params {
			ps = append(ps, p.Name+"="+p.Value)
		}
		if got := strings.Join(ps, ","); got != c.params {
			t.Errorf("%s %s: params %q, want %q", c.method, c.path, got, c.params)
		}
	}
	if tb.Lookup("POST", "/", &m) {
		t.Errorf("POST /: matched %s, want none ({proxy+} does not match /)", m.Target.RouteKey)
	}
}

func TestPrecedenceREST(t *testing.T) {
	tb := table(t, manifest.APIRest,
		"get /users/{id} getuser",
		"any /users/{id} anyuser",
		"post /users/me postme",
		"get /users/{id}/orders/{order} order",
		"any /{proxy+} catchall",
		"get /files/{path+} files",
	)
	cases := []struct {
		method, path, fn string
		resourceFound    bool
	}{
		{"GET", "/users/42", "getuser", false},
		{"DELETE", "/users/42", "anyuser", false}, // explicit method beats ANY, ANY covers the rest
		{"POST", "/users/me", "postme", false},
		// REST selects the resource /users/me first; GET is not defined there,
		// so the request has no route (API Gateway: Missing Authentication Token),
		// although /users/{id} has GET.
		{"GET", "/users/me", "", true},
		{"GET", "/users/42/orders/7", "order", false},
		{"GET", "/files/a/b/c.txt", "files", false},
		{"GET", "/other/deep/path", "catchall", false},
	}
	var m Match
	for _, c := range cases {
		ok := tb.Lookup(c.method, c.path, &m)
		if c.fn == "" {
			if ok {
				t.Errorf("%s %s: matched %s, want none", c.method, c.path, m.Target.RouteKey)
			}
			if m.ResourceFound != c.resourceFound {
				t.Errorf("%s %s: ResourceFound=%v", c.method, c.path, m.ResourceFound)
			}
			continue
		}
		if !ok || m.Target.Function != c.fn {
			t.Errorf("%s %s: got %+v, want %s", c.method, c.path, m.Target, c.fn)
		}
	}
	if tb.Lookup("GET", "/", &m) {
		t.Error("GET /: REST {proxy+} must not match the root")
	}
	if !tb.Lookup("GET", "/files/x", &m) || m.Target.Resource != "/files/{path+}" || m.Params[0].Value != "x" {
		t.Errorf("GET /files/x: %+v %+v", m.Target, m.Params)
	}
}

func TestTargetDefaults(t *testing.T) {
	tb, err := New([]manifest.Route{
		{Path: "/a", Method: "get", Function: "f"},
		{Path: "/b", Method: "any", Function: "g", API: "http"},
		{Path: "/c", Method: "get", Function: "h", API: "http", PayloadFormat: "1.0", Public: true, TimeoutMs: 500},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	var m Match
	tb.Lookup("GET", "/a", &m)
	if m.Target.API != "rest" || m.Target.PayloadFormat != "1.0" || m.Target.RouteKey != "GET /a" {
		t.Errorf("/a: %+v", m.Target)
	}
	tb.Lookup("PATCH", "/b", &m)
	if m.Target.API != "http" || m.Target.PayloadFormat != "2.0" || m.Target.RouteKey != "ANY /b" {
		t.Errorf("/b: %+v", m.Target)
	}
	tb.Lookup("GET", "/c", &m)
	if m.Target.PayloadFormat != "1.0" || !m.Target.Public || m.Target.TimeoutMs != 500 {
		t.Errorf("/c: %+v", m.Target)
	}
	if tb.Len() != 3 {
		t.Errorf("Len = %d", tb.Len())
	}
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		r    manifest.Route
		want string
	}{
		{manifest.Route{Path: "a", Method: "get", Function: "f"}, "must start with /"},
		{manifest.Route{Path: "/{p+}/x", Method: "get", Function: "f"}, "must be the last"},
		{manifest.Route{Path: "/a", Method: "fetch", Function: "f"}, "method"},
		{manifest.Route{Path: "/a", Method: "get"}, "function is empty"},
		{manifest.Route{Path: "/a-{id}", Method: "get", Function: "f"}, "mixes text"},
		{manifest.Route{Path: "/a", Method: "get", Function: "f", API: "grpc"}, "api"},
		{manifest.Route{Path: "/a", Method: "get", Function: "f", PayloadFormat: "2.0"}, "only for http"},
	}
	for _, c := range cases {
		_, err := New([]manifest.Route{c.r}, "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.r, err, c.want)
		}
	}
	_, err := New([]manifest.Route{
		{Path: "/a/{id}", Method: "get", Function: "f"},
		{Path: "/a/{name}", Method: "post", Function: "g"},
	}, "")
	if err == nil || !strings.Contains(err.Error(), "conflicts") {
		t.Errorf("conflicting params: %v", err)
	}
	_, err = New([]manifest.Route{
		{Path: "/a", Method: "get", Function: "f"},
		{Path: "/a/", Method: "GET", Function: "g"},
	}, "")
	if err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate: %v", err)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	tb := table(t, manifest.APIRest, "get /users/{id}/orders/{order} f", "any /{proxy+} g")
	m := Match{Params: make([]Param, 0, 8)}
	allocs := testing.AllocsPerRun(100, func() {
		tb.Lookup("GET", "/users/42/orders/7", &m)
		tb.Lookup("GET", "/x/y", &m)
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %.1f times", allocs)
	}
}

func BenchmarkLookup(b *testing.B) {
	var rs []manifest.Route
	for _, p := range []string{"/a", "/b/{id}", "/c/{id}/d", "/users/{id}/orders/{order}", "/{proxy+}"} {
		rs = append(rs, manifest.Route{Path: p, Method: "get", Function: "f"})
	}
	tb, _ := New(rs, "")
	m := Match{Params: make([]Param, 0, 8)}
	b.ReportAllocs()
	for b.Loop() {
		tb.Lookup("GET", "/users/42/orders/7", &m)
	}
}
