package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/agent/cni"
	ctrd "github.com/edgeserverlessbox/esb/internal/agent/containerd"
	"github.com/edgeserverlessbox/esb/internal/agent/docker"
	"github.com/edgeserverlessbox/esb/internal/logs"
)

// agentOptions are `esb agent`'s settings: flags, defaulted from environment variables.
type agentOptions struct {
	mode             string
	stateDir         string
	socket           string
	listen           string
	tlsCert          string
	tlsKey           string
	tlsCA            string
	readinessTimeout string
	capacityMB       string
	nodeName         string
	hostIP           string
	addHosts         []string

	dockerHost    string
	dockerNetwork string
	dockerLogSize string
	dockerLogFile string

	containerdAddress   string
	containerdNamespace string
	snapshotter         string
	cniSubnet           string
	cniBinDir           string
	cniBridge           string
	cniNetwork          string
	cniNoMasquerade     bool
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func newAgentCommand(g *Globals) *cobra.Command {
	o := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the agent daemon (container lifecycle over gRPC)",
		Long: `Run the agent: the privileged daemon that starts, lists, measures, pauses and
removes function containers on Docker Engine (--mode docker, the default) or on
containerd with CNI networking (--mode containerd). It serves gRPC
(api/agent/v1) on a unix socket (mode 0600) and, with --listen, on TCP with
mutual TLS. Every flag has an environment variable; the flag wins.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAgent(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.mode, "mode", envOr("ESB_MODE", "docker"), "container runtime: docker or containerd (ESB_MODE)")
	f.StringVar(&o.stateDir, "state-dir", envOr("ESB_STATE_DIR", "/var/lib/esb"), "state directory; the socket defaults to <state-dir>/run/agent.sock (ESB_STATE_DIR)")
	f.StringVar(&o.socket, "socket", envOr("ESB_AGENT_SOCKET", ""), "unix socket to serve on, mode 0600 (ESB_AGENT_SOCKET; default <state-dir>/run/agent.sock)")
	f.StringVar(&o.listen, "listen", envOr("ESB_AGENT_LISTEN", ""), "also serve on this TCP host:port with mutual TLS (ESB_AGENT_LISTEN)")
	f.StringVar(&o.tlsCert, "tls-cert", envOr("ESB_AGENT_TLS_CERT", ""), "PEM server certificate for --listen (ESB_AGENT_TLS_CERT)")
	f.StringVar(&o.tlsKey, "tls-key", envOr("ESB_AGENT_TLS_KEY", ""), "PEM server key for --listen (ESB_AGENT_TLS_KEY)")
	f.StringVar(&o.tlsCA, "tls-ca", envOr("ESB_AGENT_TLS_CA", ""), "PEM CA that client certificates must chain to (ESB_AGENT_TLS_CA)")
	f.StringVar(&o.readinessTimeout, "readiness-timeout", envOr("READINESS_TIMEOUT", "30s"), "how long EnsureContainer waits for a worker's port 8080, e.g. 30s or 30 (READINESS_TIMEOUT)")
	f.StringVar(&o.capacityMB, "capacity-mb", envOr("ESB_AGENT_CAPACITY_MB", "0"), "memory the agent may hand out to workers in MB, 0 = unlimited (ESB_AGENT_CAPACITY_MB)")
	f.StringVar(&o.nodeName, "node-name", envOr("ESB_NODE_NAME", ""), "name of this compute node in Info (ESB_NODE_NAME; default the host name)")
	f.StringVar(&o.hostIP, "host-ip", envOr("ESB_HOST_IP", ""), "address s3-storage, database, gateway and victorialogs resolve to inside workers (ESB_HOST_IP; default the host's address on the worker network)")
	f.StringSliceVar(&o.addHosts, "add-host", splitList(envOr("ESB_ADD_HOSTS", "")), "extra or overriding name=ip entries for workers, repeatable (ESB_ADD_HOSTS, comma-separated)")
	f.StringVar(&o.dockerHost, "docker-host", envOr("DOCKER_HOST", ""), "Docker Engine address (DOCKER_HOST; default unix:///var/run/docker.sock)")
	f.StringVar(&o.dockerNetwork, "docker-network", envOr("ESB_DOCKER_NETWORK", "esb"), "user-defined bridge network for workers, created when missing (ESB_DOCKER_NETWORK)")
	f.StringVar(&o.dockerLogSize, "docker-log-max-size", envOr("ESB_DOCKER_LOG_MAX_SIZE", "20m"), "size of each json-file log file of a worker, the slack for output bursts (ESB_DOCKER_LOG_MAX_SIZE)")
	f.StringVar(&o.dockerLogFile, "docker-log-max-files", envOr("ESB_DOCKER_LOG_MAX_FILES", "5"), "json-file log files kept per worker (ESB_DOCKER_LOG_MAX_FILES)")
	f.StringVar(&o.containerdAddress, "containerd-address", envOr("CONTAINERD_ADDRESS", ctrd.DefaultAddress), "containerd socket (CONTAINERD_ADDRESS)")
	f.StringVar(&o.containerdNamespace, "containerd-namespace", envOr("CONTAINERD_NAMESPACE", ctrd.DefaultNamespace), "containerd namespace for workers (CONTAINERD_NAMESPACE)")
	f.StringVar(&o.snapshotter, "snapshotter", envOr("CONTAINERD_SNAPSHOTTER", ""), "containerd snapshotter (CONTAINERD_SNAPSHOTTER; default containerd's, overlayfs)")
	f.StringVar(&o.cniSubnet, "cni-subnet", envOr("CNI_SUBNET", cni.DefaultSubnet), "IPv4 subnet of the workers' bridge in containerd mode (CNI_SUBNET)")
	f.StringVar(&o.cniBinDir, "cni-bin-dir", envOr("CNI_BIN_DIR", cni.DefaultPluginDir), "directory of the CNI plugins bridge, host-local, portmap, loopback (CNI_BIN_DIR)")
	f.StringVar(&o.cniBridge, "cni-bridge", envOr("CNI_BRIDGE", cni.DefaultBridge), "Linux bridge device for workers in containerd mode (CNI_BRIDGE)")
	f.StringVar(&o.cniNetwork, "cni-network", envOr("CNI_NETWORK", cni.DefaultName), "CNI network name in containerd mode; host-local keeps its addresses under /var/lib/cni/networks/<name> (CNI_NETWORK)")
	f.BoolVar(&o.cniNoMasquerade, "cni-no-masquerade", envOr("CNI_NO_MASQUERADE", "") == "1", "do not source-NAT workers' outbound traffic in containerd mode (CNI_NO_MASQUERADE=1)")
	return cmd
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseDuration accepts Go durations ("30s", "1m") and plain seconds ("30").
func parseDuration(name, s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("%s %q must be positive", name, s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q is not a positive duration like 30s or 30", name, s)
	}
	return d, nil
}

// aliases parses --host-ip and --add-host.
func (o *agentOptions) aliases() (agent.HostAliases, error) {
	h := agent.HostAliases{HostIP: o.hostIP, Extra: map[string]string{}}
	if h.HostIP != "" && net.ParseIP(h.HostIP) == nil {
		return h, fmt.Errorf("--host-ip (ESB_HOST_IP) %q is not an IP address", h.HostIP)
	}
	for _, e := range o.addHosts {
		name, ip, ok := strings.Cut(e, "=")
		if !ok {
			name, ip, ok = strings.Cut(e, ":")
		}
		if !ok || name == "" || net.ParseIP(ip) == nil {
			return h, fmt.Errorf("--add-host (ESB_ADD_HOSTS) entry %q is not name=ip", e)
		}
		h.Extra[name] = ip
	}
	return h, nil
}

func runAgent(ctx context.Context, g *Globals, o *agentOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	level := slog.LevelInfo
	if g.Verbose {
		level = slog.LevelDebug
	}
	logger, logp, err := logs.Setup(logs.FromEnv("agent"), slog.NewTextHandler(g.Stderr, &slog.HandlerOptions{Level: level}))
	if err != nil {
		return err
	}
	defer logp.Close()

	cfg := agent.DefaultConfig()
	cfg.Version = Version
	cfg.NodeName = o.nodeName
	capMB, err := strconv.ParseInt(o.capacityMB, 10, 64)
	if err != nil || capMB < 0 {
		return fmt.Errorf("--capacity-mb (ESB_AGENT_CAPACITY_MB) %q is not a number of MB (0 = unlimited)", o.capacityMB)
	}
	cfg.CapacityMemoryMB = capMB
	d, err := parseDuration("--readiness-timeout (READINESS_TIMEOUT)", o.readinessTimeout)
	if err != nil {
		return err
	}
	cfg.ReadinessTimeout = d
	aliases, err := o.aliases()
	if err != nil {
		return err
	}
	lc := agent.ListenConfig{Socket: o.socket, TCP: o.listen, TLSCert: o.tlsCert, TLSKey: o.tlsKey, TLSCA: o.tlsCA}
	if lc.Socket == "" {
		lc.Socket = filepath.Join(o.stateDir, "run", "agent.sock")
	}
	if lc.TCP != "" {
		if _, err := agent.ServerTLS(lc.TLSCert, lc.TLSKey, lc.TLSCA); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rt agent.Runtime
	switch o.mode {
	case "docker":
		rt, err = docker.New(ctx, docker.Config{Host: o.dockerHost, Network: o.dockerNetwork, Aliases: aliases, LogMaxSize: o.dockerLogSize, LogMaxFiles: o.dockerLogFile}, logger)
	case "containerd":
		rt, err = ctrd.New(ctx, ctrd.Config{
			Address:     o.containerdAddress,
			Namespace:   o.containerdNamespace,
			Snapshotter: o.snapshotter,
			StateDir:    filepath.Join(o.stateDir, "agent"),
			CNI:         cni.Config{Name: o.cniNetwork, Subnet: o.cniSubnet, PluginDir: o.cniBinDir, Bridge: o.cniBridge, NoMasquerade: o.cniNoMasquerade},
			Aliases:     aliases,
		}, logger)
	case "firecracker":
		return fmt.Errorf("--mode firecracker (ESB_MODE) is not supported by this agent yet; use containerd")
	default:
		return fmt.Errorf("--mode (ESB_MODE) %q is not one of docker, containerd", o.mode)
	}
	if err != nil {
		return err
	}
	defer rt.Close()

	svc := agent.New(cfg, rt, logp.AgentSink(), logger)
	n, err := svc.Recover(ctx)
	if err != nil {
		return err
	}
	v, _ := rt.Version(ctx)
	logger.Info("agent started", "mode", rt.Mode(), "runtime", v, "workers", n, "readiness_timeout", cfg.ReadinessTimeout)
	releaseStartupPages(ctx, logger)
	return agent.Serve(ctx, svc, lc, logger)
}
