package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
)

// ListenConfig says where the agent serves gRPC.
type ListenConfig struct {
	// Socket is the unix socket path (created with mode 0600); empty = none.
	Socket string
	// TCP is a host:port to serve on with mutual TLS; empty = none.
	TCP string
	// TLSCert and TLSKey are the server's PEM certificate and key; TLSCA the
	// PEM CA bundle client certificates must chain to. All three are needed with TCP.
	TLSCert, TLSKey, TLSCA string
}

// Serve serves svc on the configured listeners until ctx ends, then stops
// gracefully (in-flight calls get up to 10 s).
func Serve(ctx context.Context, svc *Service, lc ListenConfig, logger *slog.Logger) error {
	if lc.Socket == "" && lc.TCP == "" {
		return errors.New("agent has nowhere to listen: set --socket or --listen")
	}
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	var creds credentials.TransportCredentials
	if lc.TCP != "" {
		tc, err := ServerTLS(lc.TLSCert, lc.TLSKey, lc.TLSCA)
		if err != nil {
			return err
		}
		creds = credentials.NewTLS(tc)
	}

	// Gateways keep one connection and may ping it to notice a dead agent.
	opts := []grpc.ServerOption{grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true})}
	unixSrv := grpc.NewServer(opts...)
	agentv1.RegisterAgentServiceServer(unixSrv, NewGRPCServer(svc))
	servers := []*grpc.Server{unixSrv}
	errc := make(chan error, 2)
	if lc.Socket != "" {
		l, err := ListenUnix(lc.Socket)
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
		logger.Info("agent listening", "socket", lc.Socket)
		go func() { errc <- unixSrv.Serve(l) }()
	}
	if lc.TCP != "" {
		l, err := net.Listen("tcp", lc.TCP)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen on %s: %w", lc.TCP, err)
		}
		listeners = append(listeners, l)
		tcpSrv := grpc.NewServer(append(opts, grpc.Creds(creds))...)
		agentv1.RegisterAgentServiceServer(tcpSrv, NewGRPCServer(svc))
		servers = append(servers, tcpSrv)
		logger.Info("agent listening (mutual TLS)", "addr", l.Addr().String())
		go func() { errc <- tcpSrv.Serve(l) }()
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serve gRPC: %w", err)
	}
	for _, s := range servers {
		stopped := make(chan struct{})
		go func() { s.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			s.Stop()
		}
	}
	if lc.Socket != "" {
		os.Remove(lc.Socket)
	}
	return err
}

// ListenUnix listens on a unix socket that only the owner may use (mode
// 0600, set before the socket appears under its name). A stale socket left by
// a dead agent is replaced; a live one is an error.
func ListenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the socket's directory: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("another agent is listening on %s; stop it or choose another --socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("set mode 0600 on %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("move socket into place at %s: %w", path, err)
	}
	return l, nil
}

// ServerTLS builds a TLS configuration that requires client certificates
// signed by the CA in caFile.
func ServerTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, errors.New("listening on TCP needs mutual TLS: set --tls-cert, --tls-key and --tls-ca (ESB_AGENT_TLS_CERT, ESB_AGENT_TLS_KEY, ESB_AGENT_TLS_CA)")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load agent TLS certificate %s / key %s: %w", certFile, keyFile, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read TLS CA %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TLS CA %s holds no PEM certificate", caFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
