package sam

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// DefaultRoute is the path of an HttpApi event without Path and Method: the
// API's $default route, which catches what no other route matches.
const DefaultRoute = "$default"

// routeDecl is a route with where it was declared.
type routeDecl struct {
	route manifest.Route
	line  int
	res   string
	kind  string // Api or HttpApi
	shape string // path with parameter names removed, for clash detection
}

var methods = map[string]bool{"get": true, "post": true, "put": true, "delete": true, "patch": true, "head": true, "options": true, "any": true}

var paramName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// route compiles an Api or HttpApi event.
func (c *compiler) route(id, fnName string, f Field, kind string, p *Node) (routeDecl, error) {
	rd := routeDecl{line: f.Line, res: id, kind: kind}
	rd.route.Function = fnName
	pathN, methodN := p.Get("Path"), p.Get("Method")
	if kind == "HttpApi" && pathN == nil && methodN == nil {
		rd.route.Path, rd.route.Method, rd.shape = DefaultRoute, manifest.MethodAny, DefaultRoute
	} else {
		if pathN == nil || pathN.Kind != KindScalar || pathN.Value == "" {
			return rd, c.errorf(f.Line, id, "event %s: Path is missing (e.g. Path: /hello)", f.Key)
		}
		if methodN == nil || methodN.Kind != KindScalar || methodN.Value == "" {
			return rd, c.errorf(f.Line, id, "event %s: Method is missing (get, post, put, delete, patch, head, options or any)", f.Key)
		}
		m := strings.ToLower(methodN.Value)
		if m == "x-amazon-apigateway-any-method" || m == "*" {
			m = manifest.MethodAny
		}
		if !methods[m] {
			return rd, c.errorf(methodN.Line, id, "event %s: Method %q is not an HTTP method (get, post, put, delete, patch, head, options or any)", f.Key, methodN.Value)
		}
		path, shape, err := normalizePath(pathN.Value)
		if err != nil {
			return rd, c.errorf(pathN.Line, id, "event %s: Path %q %s", f.Key, pathN.Value, err)
		}
		rd.route.Path, rd.route.Method, rd.shape = path, m, shape
	}
	if kind == "HttpApi" {
		rd.route.API = manifest.APIHTTP
		if v := p.Get("PayloadFormatVersion"); v != nil {
			if v.Value != "1.0" && v.Value != "2.0" {
				return rd, c.errorf(v.Line, id, "event %s: PayloadFormatVersion %q must be 1.0 or 2.0", f.Key, v.Value)
			}
			if v.Value == "1.0" {
				rd.route.PayloadFormat = "1.0"
			}
		}
		if v := p.Get("TimeoutInMillis"); v != nil {
			ms, err := strconv.Atoi(v.Value)
			if err != nil || ms < 50 || ms > 30000 {
				return rd, c.errorf(v.Line, id, "event %s: TimeoutInMillis %q must be 50 to 30000", f.Key, v.Value)
			}
			rd.route.TimeoutMs = ms
		}
	} else {
		rd.route.API = manifest.APIRest
	}
	if auth := p.Get("Auth"); auth != nil {
		if a := auth.Get("Authorizer"); a != nil && a.Kind == KindScalar && a.Value == "NONE" {
			rd.route.Public = true
		}
	}
	return rd, nil
}

// normalizePath checks an API Gateway path template and returns it without a
// trailing slash, plus its shape (parameter names blanked) for clash checks.
func normalizePath(p string) (string, string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", "", fmt.Errorf("must start with /")
	}
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "/" {
		return "/", "/", nil
	}
	segs := strings.Split(p[1:], "/")
	shape := make([]string, len(segs))
	names := map[string]bool{}
	for i, s := range segs {
		switch {
		case s == "":
			return "", "", fmt.Errorf("has an empty segment (//)")
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			name := s[1 : len(s)-1]
			greedy := strings.HasSuffix(name, "+")
			name = strings.TrimSuffix(name, "+")
			if !paramName.MatchString(name) {
				return "", "", fmt.Errorf("has an invalid parameter %s", s)
			}
			if names[name] {
				return "", "", fmt.Errorf("uses the parameter {%s} twice", name)
			}
			names[name] = true
			if greedy {
				if i != len(segs)-1 {
					return "", "", fmt.Errorf("has the greedy parameter %s before the last segment (it must be last)", s)
				}
				shape[i] = "{+}"
			} else {
				shape[i] = "{}"
			}
		case strings.ContainsAny(s, "{}"):
			return "", "", fmt.Errorf("has a segment %q that mixes text and {parameter}; a parameter must be a whole segment", s)
		default:
			shape[i] = s
		}
	}
	return p, "/" + strings.Join(shape, "/"), nil
}

// segmentRank orders path segments the way API Gateway prefers them:
// literal text, then {param}, then {proxy+}.
func segmentRank(s string) int {
	switch {
	case strings.HasSuffix(s, "+}"):
		return 2
	case strings.HasPrefix(s, "{"):
		return 1
	}
	return 0
}

// routeLess orders routes so that the first match in the list is the one API
// Gateway would choose: compared segment by segment, literal beats {param}
// beats {proxy+}; a path goes before its extensions by a greedy parameter and
// after its other extensions; an explicit method beats any; $default is last.
func routeLess(a, b manifest.Route) bool {
	if (a.Path == DefaultRoute) != (b.Path == DefaultRoute) {
		return b.Path == DefaultRoute
	}
	as, bs := splitPath(a.Path), splitPath(b.Path)
	for i := 0; i < len(as) && i < len(bs); i++ {
		ra, rb := segmentRank(as[i]), segmentRank(bs[i])
		if ra != rb {
			return ra < rb
		}
		if ra == 0 && as[i] != bs[i] {
			return as[i] < bs[i]
		}
	}
	if len(as) != len(bs) {
		// One path is a prefix of the other: they never match the same
		// request unless the longer one continues with a greedy parameter.
		// Keep catch-alls after the exact path, deeper paths first otherwise.
		if len(as) > len(bs) {
			return segmentRank(as[len(bs)]) != 2
		}
		return segmentRank(bs[len(as)]) == 2
	}
	if (a.Method == manifest.MethodAny) != (b.Method == manifest.MethodAny) {
		return b.Method == manifest.MethodAny
	}
	if a.Method != b.Method {
		return a.Method < b.Method
	}
	return a.Path < b.Path
}

func splitPath(p string) []string {
	if p == "/" || p == DefaultRoute {
		return nil
	}
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

// sortRoutes checks for clashes and orders the routes by precedence.
func (c *compiler) sortRoutes() ([]manifest.Route, error) {
	seen := map[string]routeDecl{}
	hasRest, hasHTTP := false, false
	for _, rd := range c.routes {
		key := strings.ToUpper(rd.route.Method) + " " + rd.shape
		if prev, dup := seen[key]; dup {
			what := fmt.Sprintf("%s %s", strings.ToUpper(rd.route.Method), rd.route.Path)
			if rd.route.Path == DefaultRoute {
				what = "the HttpApi $default route"
			}
			return nil, c.errorf(rd.line, rd.res, "route %s clashes with %s %s of function %s (resource %s, %s:%d); change the Path or Method of one of them",
				what, strings.ToUpper(prev.route.Method), prev.route.Path, prev.route.Function, prev.res, c.t.File, prev.line)
		}
		seen[key] = rd
		if rd.kind == "Api" {
			hasRest = true
		} else {
			hasHTTP = true
		}
	}
	c.res.Routing.API = manifest.APIRest
	if hasHTTP && !hasRest {
		c.res.Routing.API = manifest.APIHTTP
	}
	out := make([]manifest.Route, 0, len(c.routes))
	for _, rd := range c.routes {
		r := rd.route
		if r.API == c.res.Routing.API {
			r.API = ""
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return routeLess(out[i], out[j]) })
	return out, nil
}
