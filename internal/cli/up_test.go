package cli

import (
	"net"
	"strings"
	"testing"

	"github.com/edgeserverlessbox/esb/internal/project"
	"github.com/edgeserverlessbox/esb/internal/supervisor"
)

func TestNoProxyAddsLocalNamesAndSubnet(t *testing.T) {
	got := noProxyList("corp.example, localhost", "10.88.0.0/16")
	for _, want := range []string{"corp.example", "localhost", "gateway", "s3-storage", "database", "victorialogs", "127.0.0.1", "10.88.0.0/16"} {
		if !strings.Contains(","+got+",", ","+want+",") {
			t.Errorf("NO_PROXY %q lacks %s", got, want)
		}
	}
	if strings.Count(got, "localhost") != 1 {
		t.Errorf("duplicate entries: %q", got)
	}
}

func TestProxyEnvOnlyWhenAProxyIsSet(t *testing.T) {
	s := upSettings{mode: "containerd"}
	if env := proxyEnv(func(string) string { return "" }, s, supervisor.Layout{}); len(env) != 0 {
		t.Fatalf("no proxy set, got %v", env)
	}
	env := proxyEnv(func(k string) string {
		switch k {
		case "https_proxy":
			return "http://proxy:3128"
		case "CNI_SUBNET":
			return "10.9.0.0/16"
		}
		return ""
	}, s, supervisor.Layout{})
	if env["HTTPS_PROXY"] != "http://proxy:3128" || env["https_proxy"] != "http://proxy:3128" {
		t.Errorf("proxy not passed: %v", env)
	}
	if !strings.Contains(env["NO_PROXY"], "10.9.0.0/16") || !strings.Contains(env["no_proxy"], "s3-storage") {
		t.Errorf("NO_PROXY: %q", env["NO_PROXY"])
	}
}

func TestMergeEnvReplaces(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2", "C=3"}, map[string]string{"B": "x", "D": "4"})
	want := "A=1 C=3 B=x D=4"
	if strings.Join(got, " ") != want {
		t.Errorf("mergeEnv = %v, want %s", got, want)
	}
}

func TestFirecrackerModeSaysWhatItNeeds(t *testing.T) {
	err := checkMode(project.ModeFirecracker)
	if err == nil || !strings.Contains(err.Error(), "KVM") || !strings.Contains(err.Error(), "ESB_MODE=containerd") {
		t.Fatalf("firecracker: %v", err)
	}
	if ExitCode(err) != 2 {
		t.Errorf("exit code %d, want 2", ExitCode(err))
	}
	if checkMode(project.ModeDocker) != nil || checkMode(project.ModeContainerd) != nil {
		t.Error("docker/containerd refused")
	}
}

func TestPortInUseNamesThePortAndTheVariable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s := upSettings{sslOff: true, httpPort: mustAtoi(t, port), bind: "127.0.0.1", dynamoEndpoint: "x", s3Endpoint: "y"}
	err = checkPorts(s)
	if err == nil || !strings.Contains(err.Error(), "port "+port) || !strings.Contains(err.Error(), "GATEWAY_HTTP_PORT") {
		t.Fatalf("checkPorts: %v", err)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestEngineMissingIsOneLine(t *testing.T) {
	err := checkEngine(t.Context(), "docker", func(k string) string {
		if k == "DOCKER_HOST" {
			return "unix://" + t.TempDir() + "/docker.sock"
		}
		return ""
	})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "docker") {
		t.Fatalf("docker down: %v", err)
	}
	err = checkEngine(t.Context(), "containerd", func(k string) string {
		if k == "CONTAINERD_ADDRESS" {
			return t.TempDir() + "/containerd.sock"
		}
		return ""
	})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "containerd") {
		t.Fatalf("containerd down: %v", err)
	}
}

func TestPlanPassesPathsAndKeysAsContractsSay(t *testing.T) {
	proj := &project.Project{Name: "demo", Dir: "/p", OutputDir: "/p/.esb", Region: "eu-west-1"}
	l := supervisor.Layout{Root: "/p/.esb/state"}
	s := upSettings{mode: "docker", region: "eu-west-1", httpsPort: 443, httpPort: 8080, dynamoListen: ":8001", s3Listen: ":9000", s3Consol: ":9001", vlogsListen: "127.0.0.1:9428", esb: "/usr/local/bin/esb"}
	sec := supervisor.Secrets{APIKey: "k", JWTSecret: strings.Repeat("j", 40), User: "u", Password: "p", AccessKeyID: "AK", SecretAccessKey: "SK"}
	p := planServices(proj, l, s, sec, []string{"PATH=/bin", "X_API_KEY=old"}, nil)
	byName := map[string]supervisor.Service{}
	for _, svc := range p.cfg.Services {
		byName[svc.Name] = svc
		env := strings.Join(svc.Env, "\n")
		for _, want := range []string{"ESB_SERVICE=" + svc.Name, "ESB_LOG_DIR=/p/.esb/state/logs", "ESB_SUPERVISED_STATE=/p/.esb/state"} {
			if !strings.Contains(env, want) {
				t.Errorf("%s lacks %s", svc.Name, want)
			}
		}
		if strings.Contains(strings.Join(svc.Args, " "), "SK") {
			t.Errorf("%s has a secret in its arguments: %v", svc.Name, svc.Args)
		}
	}
	if _, ok := byName["victorialogs"]; ok {
		t.Error("victorialogs planned without a binary")
	}
	gw := strings.Join(byName["gateway"].Env, "\n")
	for _, want := range []string{"X_API_KEY=k", "AWS_ENDPOINT_URL_S3=http://s3-storage:9000", "AWS_ENDPOINT_URL_DYNAMODB=http://database:8001",
		"GATEWAY_INTERNAL_URL=http://gateway:8080", "AGENT_GRPC_ADDRESS=unix:///p/.esb/state/run/agent.sock", "ESB_CERT_DIR=/p/.esb/state/certs",
		"ASYNC_SPOOL_DIR=/p/.esb/state/data/gateway-async", "FUNCTIONS_CONFIG_PATH=/p/.esb/config/functions.yml"} {
		if !strings.Contains(gw, want) {
			t.Errorf("gateway env lacks %s", want)
		}
	}
	if strings.Contains(gw, "X_API_KEY=old") {
		t.Error("the caller's X_API_KEY survived next to the project's")
	}
	if got := strings.Join(byName["dynamodb"].Args, " "); !strings.Contains(got, "--data-dir /p/.esb/state/data/dynamodb") {
		t.Errorf("dynamodb args %s", got)
	}
	if got := strings.Join(byName["s3"].Args, " "); !strings.Contains(got, "--data-dir /p/.esb/state/data/s3") {
		t.Errorf("s3 args %s", got)
	}
	again := planServices(proj, l, s, sec, []string{"PATH=/bin", "OTHER=changed"}, nil)
	if again.hash != p.hash {
		t.Error("the plan hash depends on unrelated environment")
	}
	s.httpPort = 8081
	if planServices(proj, l, s, sec, nil, nil).hash == p.hash {
		t.Error("the plan hash ignores a port change")
	}
}
