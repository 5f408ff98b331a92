package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/internal/agent/cni"
	"github.com/edgeserverlessbox/esb/internal/dynamo"
	"github.com/edgeserverlessbox/esb/internal/logs"
	"github.com/edgeserverlessbox/esb/internal/project"
	"github.com/edgeserverlessbox/esb/internal/supervisor"
)

// upSettings is what `esb up` reads from the environment, once, at start.
type upSettings struct {
	mode   string
	region string

	bind               string
	httpsPort          int
	httpPort           int
	sslOff             bool
	dynamoListen       string
	s3Listen, s3Consol string
	vlogsListen        string

	// External endpoints: set, esb up starts no such service of its own.
	dynamoEndpoint, s3Endpoint, vlogsURL string
	vlogsBin                             string

	// gatewayUser is the user the gateway runs as when esb up runs as root.
	gatewayUser string

	esb string // the esb executable
}

// Environment variables only esb up reads.
const (
	envDynamoEndpoint = "DYNAMODB_ENDPOINT"
	envS3Endpoint     = "S3_ENDPOINT"
	envVLogsURL       = "VICTORIALOGS_URL"
	envVLogsBin       = "VICTORIALOGS_BIN"
	envVLogsListen    = "ESB_VICTORIALOGS_LISTEN"
	envGatewayUser    = "ESB_GATEWAY_USER"
)

func readUpSettings(proj *project.Project, getenv func(string) string) (upSettings, error) {
	s := upSettings{mode: proj.Mode, region: proj.Region}
	if s.mode == "" {
		s.mode = project.ModeDocker
	}
	var errs []string
	port := func(name string, def int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Sprintf("%s=%q is not a port number", name, v))
			return def
		}
		return n
	}
	s.bind = getenv("GATEWAY_BIND_ADDR")
	s.httpsPort = port("GATEWAY_PORT", 443)
	s.httpPort = port("GATEWAY_HTTP_PORT", 8080)
	switch strings.ToLower(getenv("ENABLE_SSL")) {
	case "0", "false", "no", "off":
		s.sslOff = true
	}
	s.dynamoListen = firstNonEmpty(getenv("ESB_DYNAMODB_LISTEN"), ":8001")
	s.s3Listen = firstNonEmpty(getenv("ESB_S3_LISTEN"), ":9000")
	s.s3Consol = firstNonEmpty(getenv("ESB_S3_CONSOLE_LISTEN"), ":9001")
	s.vlogsListen = firstNonEmpty(getenv(envVLogsListen), "127.0.0.1:9428")
	s.dynamoEndpoint = getenv(envDynamoEndpoint)
	s.s3Endpoint = getenv(envS3Endpoint)
	s.vlogsURL = getenv(envVLogsURL)
	s.gatewayUser = firstNonEmpty(getenv(envGatewayUser), "esb")
	for _, l := range []struct{ name, v string }{{"ESB_DYNAMODB_LISTEN", s.dynamoListen}, {"ESB_S3_LISTEN", s.s3Listen}, {envVLogsListen, s.vlogsListen}} {
		if _, _, err := net.SplitHostPort(l.v); err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q is not host:port", l.name, l.v))
		}
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	exe, err := os.Executable()
	if err != nil {
		return s, fmt.Errorf("find the esb executable: %w", err)
	}
	s.esb = exe
	if s.vlogsURL == "" {
		s.vlogsBin = logs.FindVictoriaLogs(getenv)
	}
	return s, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// upPlan is what the supervisor runs for a project, and where it answers.
type upPlan struct {
	cfg       supervisor.Config
	endpoints upEndpoints
	hash      string
}

// upEndpoints are the addresses `esb up` prints and provisions against.
type upEndpoints struct {
	GatewayHTTPS string `json:"gateway_https,omitempty"`
	GatewayHTTP  string `json:"gateway_http,omitempty"`
	DynamoDB     string `json:"dynamodb,omitempty"`
	S3           string `json:"s3,omitempty"`
	S3Console    string `json:"s3_console,omitempty"`
	VictoriaLogs string `json:"victorialogs,omitempty"`
}

// Keys of the supervisor's Info map.
const (
	infoProject  = "project"
	infoDir      = "dir"
	infoMode     = "mode"
	infoPlan     = "plan"
	infoGwHTTPS  = "gateway_https"
	infoGwHTTP   = "gateway_http"
	infoDynamo   = "dynamodb"
	infoS3       = "s3"
	infoConsole  = "s3_console"
	infoVLogs    = "victorialogs"
	infoCertFile = "ca"
)

// planServices composes the daemons of a project: their flags, environment
// and health checks, as docs/contracts.md's last section fixes them.
func planServices(proj *project.Project, l supervisor.Layout, s upSettings, sec supervisor.Secrets, base []string, gu *gatewayUser) upPlan {
	var p upPlan
	var fingerprint []string
	logDir := l.Logs()
	common := map[string]string{
		supervisor.MarkerEnv: l.Root,
		"ESB_LOG_DIR":        logDir,
		"ESB_PROJECT":        proj.Name,
	}
	vlogsURL := s.vlogsURL
	if vlogsURL == "" && s.vlogsBin != "" {
		vlogsURL = supervisor.LocalURL(s.vlogsListen)
	}
	if vlogsURL != "" {
		common[envVLogsURL] = vlogsURL
	}
	add := func(svc supervisor.Service, own map[string]string) {
		env := map[string]string{"ESB_SERVICE": svc.Name}
		for k, v := range common {
			env[k] = v
		}
		for k, v := range own {
			env[k] = v
		}
		svc.Env = mergeEnv(base, env)
		keys := make([]string, 0, len(own))
		for k := range own {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fingerprint = append(fingerprint, svc.Name, svc.Path, strings.Join(svc.Args, " "))
		for _, k := range keys {
			fingerprint = append(fingerprint, k+"="+own[k])
		}
		p.cfg.Services = append(p.cfg.Services, svc)
	}

	// agent: privileged, the only one talking to Docker or containerd.
	sock := l.AgentSocket()
	agentSvc := supervisor.Service{
		Name: "agent", Path: s.esb,
		Args:   []string{"agent", "--mode", s.mode, "--state-dir", l.Root, "--socket", sock},
		Addr:   "unix://" + sock,
		Health: agentHealth(sock),
	}
	agentIdx := len(p.cfg.Services)
	add(agentSvc, nil)

	// Data services.
	dynamoURL := s.dynamoEndpoint
	if dynamoURL == "" {
		dynamoURL = supervisor.LocalURL(s.dynamoListen)
		add(supervisor.Service{
			Name: "dynamodb", Path: s.esb,
			Args:   []string{"dynamodb", "--listen", s.dynamoListen, "--data-dir", l.DataDir("dynamodb"), "--region", s.region},
			Addr:   dynamoURL,
			Health: supervisor.HTTPCheck(dynamoURL + "/"),
			// Keys in the environment, not in argv (which every user can read).
		}, map[string]string{dynamo.EnvAccessKey: sec.AccessKeyID, dynamo.EnvSecretKey: sec.SecretAccessKey})
	}
	s3URL := s.s3Endpoint
	if s3URL == "" {
		s3URL = supervisor.LocalURL(s.s3Listen)
		args := []string{"s3", "--listen", s.s3Listen, "--console-listen", s.s3Consol, "--data-dir", l.DataDir("s3"), "--region", s.region}
		add(supervisor.Service{
			Name: "s3", Path: s.esb, Args: args,
			Addr:   s3URL,
			Health: supervisor.HTTPCheck(s3URL + "/.esb/healthz"),
		}, map[string]string{"ESB_S3_ACCESS_KEY": sec.AccessKeyID, "ESB_S3_SECRET_KEY": sec.SecretAccessKey})
		if s.s3Consol != "" && !strings.EqualFold(s.s3Consol, "off") {
			p.endpoints.S3Console = supervisor.LocalURL(s.s3Consol)
		}
	}
	if s.vlogsBin != "" {
		u := supervisor.LocalURL(s.vlogsListen)
		add(supervisor.Service{
			Name: "victorialogs", Path: s.vlogsBin,
			Args:   logs.VictoriaLogsArgs(l.DataDir("victorialogs"), s.vlogsListen),
			Addr:   u,
			Health: supervisor.HTTPCheck(u + "/health"),
		}, nil)
		p.endpoints.VictoriaLogs = u
	} else if s.vlogsURL != "" {
		p.endpoints.VictoriaLogs = s.vlogsURL
	}

	// gateway: after the agent, so it can clean up the workers of a previous run.
	_, dport, _ := net.SplitHostPort(s.dynamoListen)
	_, sport, _ := net.SplitHostPort(s.s3Listen)
	workerDynamo := "http://database:" + dport
	if s.dynamoEndpoint != "" {
		workerDynamo = s.dynamoEndpoint
	}
	workerS3 := "http://s3-storage:" + sport
	if s.s3Endpoint != "" {
		workerS3 = s.s3Endpoint
	}
	gwEnv := map[string]string{
		"FUNCTIONS_CONFIG_PATH":     proj.FunctionsPath(),
		"ROUTING_CONFIG_PATH":       proj.RoutingPath(),
		"AGENT_GRPC_ADDRESS":        "unix://" + sock,
		"X_API_KEY":                 sec.APIKey,
		"JWT_SECRET_KEY":            sec.JWTSecret,
		"AUTH_USER":                 sec.User,
		"AUTH_PASS":                 sec.Password,
		"ESB_CERT_DIR":              l.Certs(),
		"GATEWAY_PORT":              strconv.Itoa(s.httpsPort),
		"GATEWAY_HTTP_PORT":         strconv.Itoa(s.httpPort),
		"AWS_REGION":                s.region,
		"AWS_ACCESS_KEY_ID":         sec.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     sec.SecretAccessKey,
		"AWS_ENDPOINT_URL_S3":       workerS3,
		"AWS_ENDPOINT_URL_DYNAMODB": workerDynamo,
		"GATEWAY_INTERNAL_URL":      "http://gateway:" + strconv.Itoa(s.httpPort),
		"ASYNC_SPOOL_DIR":           l.DataDir("gateway-async"),
	}
	for k, v := range proxyEnv(os.Getenv, s, l) {
		gwEnv[k] = v
	}
	// esb's own calls go to loopback, or to GATEWAY_BIND_ADDR when the gateway
	// listens on one address only.
	gwHost := "127.0.0.1"
	if s.bind != "" && s.bind != "0.0.0.0" && s.bind != "::" {
		gwHost = s.bind
	}
	gwHTTP := "http://" + net.JoinHostPort(gwHost, strconv.Itoa(s.httpPort))
	gw := supervisor.Service{
		Name: "gateway", Path: s.esb, Args: []string{"gateway"},
		Addr:        fmt.Sprintf("https://localhost:%d, http://localhost:%d", s.httpsPort, s.httpPort),
		Health:      supervisor.TCPCheck(net.JoinHostPort(gwHost, strconv.Itoa(s.httpPort))),
		After:       []string{"agent"},
		Reload:      syscall.SIGHUP,
		StopTimeout: 45 * time.Second,
	}
	if s.sslOff {
		gw.Addr = fmt.Sprintf("http://localhost:%d", s.httpPort)
	}
	if gu != nil && canDropTo(s.esb) {
		p.cfg.Services[agentIdx].OnReady = dropGatewayPrivileges(&gw, gwEnv, l, gu, proj.FunctionsPath(), proj.RoutingPath())
		fingerprint = append(fingerprint, "user="+gu.name)
	}
	add(gw, gwEnv)

	p.endpoints.GatewayHTTP = gwHTTP
	if !s.sslOff {
		p.endpoints.GatewayHTTPS = fmt.Sprintf("https://localhost:%d", s.httpsPort)
	}
	p.endpoints.DynamoDB = dynamoURL
	p.endpoints.S3 = s3URL

	sum := sha256.Sum256([]byte(strings.Join(fingerprint, "\x00")))
	p.hash = hex.EncodeToString(sum[:8])
	p.cfg.Layout = l
	p.cfg.Info = map[string]string{
		infoProject: proj.Name, infoDir: proj.Dir, infoMode: s.mode, infoPlan: p.hash,
		infoGwHTTPS: p.endpoints.GatewayHTTPS, infoGwHTTP: p.endpoints.GatewayHTTP,
		infoDynamo: p.endpoints.DynamoDB, infoS3: p.endpoints.S3, infoConsole: p.endpoints.S3Console,
		infoVLogs: p.endpoints.VictoriaLogs, infoCertFile: filepath.Join(l.Certs(), "ca.crt"),
	}
	return p
}

// mergeEnv returns base with the keys of over replaced or added.
func mergeEnv(base []string, over map[string]string) []string {
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := over[k]; ok {
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+over[k])
	}
	return out
}

// localNoProxy are the names and addresses function code uses for esb's own
// services; they never go through a proxy.
var localNoProxy = []string{"localhost", "127.0.0.1", "::1", "gateway", "s3-storage", "database", "victorialogs"}

// proxyEnv returns HTTP_PROXY, HTTPS_PROXY and NO_PROXY (both cases) for the
// gateway to pass to functions, when a proxy is set: NO_PROXY gains the
// local service names and the workers' subnet.
func proxyEnv(getenv func(string) string, s upSettings, l supervisor.Layout) map[string]string {
	out := map[string]string{}
	httpP := firstNonEmpty(getenv("HTTP_PROXY"), getenv("http_proxy"))
	httpsP := firstNonEmpty(getenv("HTTPS_PROXY"), getenv("https_proxy"))
	if httpP == "" && httpsP == "" {
		return out
	}
	if httpP != "" {
		out["HTTP_PROXY"], out["http_proxy"] = httpP, httpP
	}
	if httpsP != "" {
		out["HTTPS_PROXY"], out["https_proxy"] = httpsP, httpsP
	}
	out["NO_PROXY"] = noProxyList(firstNonEmpty(getenv("NO_PROXY"), getenv("no_proxy")), workerSubnet(getenv, s.mode))
	out["no_proxy"] = out["NO_PROXY"]
	return out
}

// noProxyList appends the local names and the subnet to a NO_PROXY value,
// without duplicates.
func noProxyList(user, subnet string) string {
	seen := map[string]bool{}
	var out []string
	for _, v := range append(strings.Split(user, ","), append(localNoProxy, subnet)...) {
		v = strings.TrimSpace(v)
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return strings.Join(out, ",")
}

// workerSubnet is the subnet of the workers' network: CNI_SUBNET in
// containerd mode; in docker mode ESB_DOCKER_SUBNET, else the range Docker
// takes bridge networks from.
func workerSubnet(getenv func(string) string, mode string) string {
	if mode == project.ModeContainerd {
		return firstNonEmpty(getenv("CNI_SUBNET"), cni.DefaultSubnet)
	}
	return firstNonEmpty(getenv("ESB_DOCKER_SUBNET"), "172.16.0.0/12")
}

// agentHealth asks the agent's Health RPC over its socket.
func agentHealth(sock string) func(ctx context.Context) error {
	var conn *grpc.ClientConn
	return func(ctx context.Context) error {
		if _, err := os.Stat(sock); err != nil {
			return fmt.Errorf("no socket %s yet", sock)
		}
		if conn == nil {
			c, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return err
			}
			conn = c
		}
		resp, err := agentv1.NewAgentServiceClient(conn).Health(ctx, &agentv1.HealthRequest{})
		if err != nil {
			return fmt.Errorf("agent health: %w", err)
		}
		if !resp.GetServing() {
			return fmt.Errorf("agent not serving: %s", resp.GetMessage())
		}
		return nil
	}
}
