// Package route matches an HTTP method and path against the routes of
// routing.yml with API Gateway's precedence: a literal segment beats a
// `{param}` segment, which beats a greedy `{proxy+}`; an explicit method beats
// `ANY`. REST APIs select the resource by path first and then the method on
// that resource; HTTP APIs select the best route+method pair.
package route

import (
	"fmt"
	"sort"
	"strings"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// Target is what a matched route points to.
type Target struct {
	// Function is the function name (a key of functions.yml).
	Function string
	// API is manifest.APIRest or manifest.APIHTTP.
	API string
	// PayloadFormat is "1.0" or "2.0".
	PayloadFormat string
	// Resource is the path template, e.g. "/users/{id}".
	Resource string
	// Method is the upper-case method of the route, or "ANY".
	Method string
	// RouteKey is the HTTP API route key, e.g. "GET /users/{id}".
	RouteKey string
	// Public routes need no Authorization header.
	Public bool
	// TimeoutMs is the integration timeout in milliseconds (0 = default).
	TimeoutMs int
}

// Param is one path parameter of a match.
type Param struct {
	Name, Value string
}

// Match is the result of a lookup. Params is reused between lookups when the
// caller keeps the Match, so a lookup does not allocate.
type Match struct {
	Target *Target
	Params []Param
	// ResourceFound is true when a REST resource matched the path but has no
	// method for the request (API Gateway answers as for no route).
	ResourceFound bool
}

type node struct {
	literal map[string]*node
	param   *node
	// paramName is the name of the {param} child's variable (on the child).
	name   string
	greedy *node // {name+} child; terminal by construction

	methods map[string]*Target // upper-case method → target
	any     *Target
	rest    bool // some route on this node is a REST route
}

func (n *node) terminal() bool { return len(n.methods) > 0 || n.any != nil }

// Table is an immutable, compiled routing table. It is safe for concurrent use.
type Table struct {
	root  *node
	count int
}

// Len reports the number of routes in the table.
func (t *Table) Len() int { return t.count }

// New compiles routes. defaultAPI is routing.yml's `api` (empty = rest).
// Invalid paths, methods or duplicate routes are reported with the route's index.
func New(routes []manifest.Route, defaultAPI string) (*Table, error) {
	if defaultAPI == "" {
		defaultAPI = manifest.APIRest
	}
	if defaultAPI != manifest.APIRest && defaultAPI != manifest.APIHTTP {
		return nil, fmt.Errorf("routing: api %q: must be %q or %q", defaultAPI, manifest.APIRest, manifest.APIHTTP)
	}
	t := &Table{root: &node{}}
	for i, r := range routes {
		if err := t.add(r, defaultAPI); err != nil {
			return nil, fmt.Errorf("routing: routes[%d] (%s %s): %w", i, r.Method, r.Path, err)
		}
	}
	return t, nil
}

func (t *Table) add(r manifest.Route, defaultAPI string) error {
	if r.Function == "" {
		return fmt.Errorf("function is empty")
	}
	api := r.API
	if api == "" {
		api = defaultAPI
	}
	if api != manifest.APIRest && api != manifest.APIHTTP {
		return fmt.Errorf("api %q: must be %q or %q", api, manifest.APIRest, manifest.APIHTTP)
	}
	pf := r.PayloadFormat
	if pf == "" {
		pf = "1.0"
		if api == manifest.APIHTTP {
			pf = "2.0"
		}
	}
	if pf != "1.0" && pf != "2.0" {
		return fmt.Errorf("payload_format %q: must be 1.0 or 2.0", pf)
	}
	if api == manifest.APIRest && pf != "1.0" {
		return fmt.Errorf("payload_format 2.0 is only for http APIs")
	}
	method := strings.ToUpper(strings.TrimSpace(r.Method))
	if method == "" || method == "*" {
		method = "ANY"
	}
	if !validMethod(method) {
		return fmt.Errorf("method %q: must be get, post, put, delete, patch, head, options or any", r.Method)
	}
	if !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf("path must start with /")
	}
	n := t.root
	segs := splitPath(r.Path)
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "+}"):
			if i != len(segs)-1 {
				return fmt.Errorf("greedy segment %s must be the last", s)
			}
			name := s[1 : len(s)-2]
			if name == "" {
				return fmt.Errorf("empty parameter name in %s", s)
			}
			if n.greedy == nil {
				n.greedy = &node{name: name}
			} else if n.greedy.name != name {
				return fmt.Errorf("greedy parameter {%s+} conflicts with {%s+} at the same position", name, n.greedy.name)
			}
			n = n.greedy
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			name := s[1 : len(s)-1]
			if name == "" || strings.ContainsAny(name, "{}/") {
				return fmt.Errorf("bad parameter %s", s)
			}
			if n.param == nil {
				n.param = &node{name: name}
			} else if n.param.name != name {
				return fmt.Errorf("parameter {%s} conflicts with {%s} at the same position", name, n.param.name)
			}
			n = n.param
		default:
			if strings.ContainsAny(s, "{}") {
				return fmt.Errorf("segment %q mixes text and a parameter (not supported by API Gateway)", s)
			}
			if n.literal == nil {
				n.literal = map[string]*node{}
			}
			c := n.literal[s]
			if c == nil {
				c = &node{}
				n.literal[s] = c
			}
			n = c
		}
	}
	resource := "/" + strings.Join(segs, "/")
	tg := &Target{
		Function: r.Function, API: api, PayloadFormat: pf, Resource: resource,
		Method: method, RouteKey: method + " " + resource, Public: r.Public, TimeoutMs: r.TimeoutMs,
	}
	if api == manifest.APIRest {
		n.rest = true
	}
	if method == "ANY" {
		if n.any != nil {
			return fmt.Errorf("duplicate route (also to %s)", n.any.Function)
		}
		n.any = tg
	} else {
		if n.methods == nil {
			n.methods = map[string]*Target{}
		}
		if old := n.methods[method]; old != nil {
			return fmt.Errorf("duplicate route (also to %s)", old.Function)
		}
		n.methods[method] = tg
	}
	t.count++
	return nil
}

func validMethod(m string) bool {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY":
		return true
	}
	return false
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// Lookup finds the route for method and path (the decoded request path) and
// fills m. It reports whether a route matched. Path parameters are appended
// to m.Params[:0], so a reused Match makes lookups allocation-free.
func (t *Table) Lookup(method, path string, m *Match) bool {
	m.Target = nil
	m.Params = m.Params[:0]
	m.ResourceFound = false
	if len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	if path == "" {
		path = "/"
	}
	_, ok := t.match(t.root, method, path, 1, m)
	return ok
}

// match walks segment by segment from path[pos:]. The bool of the result says
// whether the search must stop (a match, or a REST resource without the method).
func (t *Table) match(n *node, method, path string, pos int, m *Match) (stop bool, ok bool) {
	if pos >= len(path) {
		// End of the path: this node must be terminal.
		if !n.terminal() {
			return false, false
		}
		if tg := n.methods[method]; tg != nil {
			m.Target = tg
			return true, true
		}
		if n.any != nil {
			m.Target = n.any
			return true, true
		}
		if n.rest {
			m.ResourceFound = true
			return true, false
		}
		return false, false
	}
	end := strings.IndexByte(path[pos:], '/')
	var seg string
	next := len(path)
	if end < 0 {
		seg = path[pos:]
	} else {
		seg = path[pos : pos+end]
		next = pos + end + 1
	}
	mark := len(m.Params)
	if c := n.literal[seg]; c != nil {
		if stop, ok := t.match(c, method, path, next, m); stop {
			return stop, ok
		}
		m.Params = m.Params[:mark]
	}
	if n.param != nil && seg != "" {
		m.Params = append(m.Params, Param{Name: n.param.name, Value: seg})
		if stop, ok := t.match(n.param, method, path, next, m); stop {
			return stop, ok
		}
		m.Params = m.Params[:mark]
	}
	if n.greedy != nil && seg != "" {
		m.Params = append(m.Params, Param{Name: n.greedy.name, Value: path[pos:]})
		if stop, ok := t.match(n.greedy, method, path, len(path), m); stop {
			return stop, ok
		}
		m.Params = m.Params[:mark]
	}
	return false, false
}

// Routes lists the table's targets sorted by resource and method (for logs and
// diagnostics).
func (t *Table) Routes() []*Target {
	var out []*Target
	var walk func(n *node)
	walk = func(n *node) {
		for _, tg := range n.methods {
			out = append(out, tg)
		}
		if n.any != nil {
			out = append(out, n.any)
		}
		for _, c := range n.literal {
			walk(c)
		}
		if n.param != nil {
			walk(n.param)
		}
		if n.greedy != nil {
			walk(n.greedy)
		}
	}
	walk(t.root)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Resource != out[j].Resource {
			return out[i].Resource < out[j].Resource
		}
		return out[i].Method < out[j].Method
	})
	return out
}
