// Package cni wires worker network namespaces to a bridge with the standard
// CNI plugins (bridge + host-local IPAM + portmap, and loopback), from a
// configuration the agent writes itself.
package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	gocni "github.com/containerd/go-cni"
)

// Config configures the worker network.
type Config struct {
	// Name is the CNI network name (also host-local's allocation directory). Default "esb".
	Name string
	// Bridge is the Linux bridge device. Default "esb0".
	Bridge string
	// Subnet is the workers' IPv4 subnet; the bridge takes its first address. Default 10.88.0.0/16.
	Subnet string
	// PluginDir holds the CNI plugin binaries. Default /usr/lib/cni (Debian's containernetworking-plugins).
	PluginDir string
	// ConfDir is where the agent writes its network configuration for reference.
	ConfDir string
	// NoMasquerade turns off source NAT of workers' outbound traffic.
	NoMasquerade bool
	// Logger receives warnings (e.g. iptables missing); nil = slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultName      = "esb"
	DefaultBridge    = "esb0"
	DefaultSubnet    = "10.88.0.0/16"
	DefaultPluginDir = "/usr/lib/cni"
)

// requiredPlugins are the plugin binaries the configuration uses.
var requiredPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// Network attaches and detaches network namespaces.
type Network struct {
	cni      gocni.CNI
	gateway  string
	conflist []byte
}

// New validates cfg, writes the configuration list and loads it.
func New(cfg Config) (*Network, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if cfg.Subnet == "" {
		cfg.Subnet = DefaultSubnet
	}
	if cfg.PluginDir == "" {
		cfg.PluginDir = DefaultPluginDir
	}
	_, subnet, err := net.ParseCIDR(cfg.Subnet)
	if err != nil || subnet.IP.To4() == nil {
		return nil, fmt.Errorf("CNI subnet %q is not an IPv4 CIDR like 10.88.0.0/16 (--cni-subnet / CNI_SUBNET)", cfg.Subnet)
	}
	if ones, _ := subnet.Mask.Size(); ones > 30 {
		return nil, fmt.Errorf("CNI subnet %s is too small; use a /30 or larger", cfg.Subnet)
	}
	for _, p := range requiredPlugins {
		if _, err := os.Stat(filepath.Join(cfg.PluginDir, p)); err != nil {
			return nil, fmt.Errorf("CNI plugin %q not found in %s: install Debian's containernetworking-plugins or set --cni-bin-dir (CNI_BIN_DIR)", p, cfg.PluginDir)
		}
	}
	gw := make(net.IP, 4)
	copy(gw, subnet.IP.To4())
	gw[3]++
	conflist, err := confList(cfg, subnet.String(), gw.String())
	if err != nil {
		return nil, err
	}
	if cfg.ConfDir != "" {
		if err := os.MkdirAll(cfg.ConfDir, 0o755); err != nil {
			return nil, fmt.Errorf("create CNI configuration directory: %w", err)
		}
		path := filepath.Join(cfg.ConfDir, cfg.Name+".conflist")
		if err := os.WriteFile(path+".tmp", conflist, 0o644); err != nil {
			return nil, fmt.Errorf("write CNI configuration: %w", err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return nil, fmt.Errorf("write CNI configuration: %w", err)
		}
	}
	if !cfg.NoMasquerade {
		logger := cfg.Logger
		if logger == nil {
			logger = slog.Default()
		}
		if err := masquerade(subnet.String()); err != nil {
			logger.Warn("workers will not reach networks beyond this host", "err", err)
		}
	}
	c, err := gocni.New(gocni.WithPluginDir([]string{cfg.PluginDir}), gocni.WithMinNetworkCount(2), gocni.WithInterfacePrefix("eth"))
	if err != nil {
		return nil, fmt.Errorf("set up CNI: %w", err)
	}
	if err := c.Load(gocni.WithLoNetwork, gocni.WithConfListBytes(conflist)); err != nil {
		return nil, fmt.Errorf("load CNI configuration: %w", err)
	}
	return &Network{cni: c, gateway: gw.String(), conflist: conflist}, nil
}

// confList renders the CNI configuration list.
func confList(cfg Config, subnet, gateway string) ([]byte, error) {
	type obj = map[string]any
	return json.MarshalIndent(obj{
		"cniVersion": "1.0.0",
		"name":       cfg.Name,
		"plugins": []obj{
			{
				"type":        "bridge",
				"bridge":      cfg.Bridge,
				"isGateway":   true,
				"ipMasq":      false, // one rule for the subnet instead (see masquerade)
				"hairpinMode": true,
				"ipam": obj{
					"type":   "host-local",
					"ranges": [][]obj{{{"subnet": subnet, "gateway": gateway}}},
					"routes": []obj{{"dst": "0.0.0.0/0"}},
				},
			},
			{"type": "portmap", "capabilities": obj{"portMappings": true}},
		},
	}, "", "  ")
}

// masquerade lets workers reach networks beyond the host: one source-NAT
// rule for the whole subnet and forwarding in both directions, added once
// (the bridge plugin's per-container ipMasq costs ~50-100 ms per start).
func masquerade(subnet string) error {
	path, err := exec.LookPath("iptables")
	if err != nil {
		return fmt.Errorf("iptables not found (install iptables, or set --cni-no-masquerade): %w", err)
	}
	comment := []string{"-m", "comment", "--comment", "esb workers " + subnet}
	rules := []struct {
		table, chain, op string
		spec             []string
	}{
		{"nat", "POSTROUTING", "-A", append([]string{"-s", subnet, "!", "-d", subnet}, append(comment, "-j", "MASQUERADE")...)},
		{"filter", "FORWARD", "-I", append([]string{"-s", subnet}, append(comment, "-j", "ACCEPT")...)},
		{"filter", "FORWARD", "-I", append([]string{"-d", subnet, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"}, append(comment, "-j", "ACCEPT")...)},
	}
	for _, r := range rules {
		check := append([]string{"-w", "-t", r.table, "-C", r.chain}, r.spec...)
		if exec.Command(path, check...).Run() == nil {
			continue
		}
		add := append([]string{"-w", "-t", r.table, r.op, r.chain}, r.spec...)
		if out, err := exec.Command(path, add...).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables %s: %v: %s", strings.Join(add, " "), err, out)
		}
	}
	return nil
}

// Gateway is the bridge's address: the host as workers see it.
func (n *Network) Gateway() string { return n.gateway }

// ConfList is the configuration list in use.
func (n *Network) ConfList() []byte { return n.conflist }

// Attach connects the network namespace at netnsPath and returns the
// worker's IPv4 address.
func (n *Network) Attach(ctx context.Context, id, netnsPath string) (string, error) {
	res, err := n.cni.Setup(ctx, id, netnsPath)
	if err != nil {
		return "", fmt.Errorf("CNI setup of %s: %w", id, err)
	}
	for name, iface := range res.Interfaces {
		if name == "lo" {
			continue
		}
		for _, c := range iface.IPConfigs {
			if ip4 := c.IP.To4(); ip4 != nil {
				return ip4.String(), nil
			}
		}
	}
	_ = n.cni.Remove(ctx, id, netnsPath)
	return "", errors.New("CNI setup returned no IPv4 address")
}

// Detach disconnects a worker and releases its address. netnsPath may be
// empty when the namespace is gone; the address is released all the same.
func (n *Network) Detach(ctx context.Context, id, netnsPath string) error {
	if err := n.cni.Remove(ctx, id, netnsPath); err != nil {
		return fmt.Errorf("CNI teardown of %s: %w", id, err)
	}
	return nil
}
