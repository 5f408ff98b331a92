package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "agent.sock")
	l, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %v %v, want a socket with mode 0600", fi.Mode(), err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := ListenUnix(path); err == nil || !strings.Contains(err.Error(), "another agent") {
		t.Fatalf("second listener on a live socket: %v", err)
	}
	l.Close() // leaves the file: a stale socket
	if _, err := os.Stat(path); err != nil {
		t.Fatal("expected the stale socket file to remain")
	}
	l2, err := ListenUnix(path)
	if err != nil {
		t.Fatalf("replacing a stale socket: %v", err)
	}
	l2.Close()
}

func TestServeUnixAndMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := makeCert(t, nil, nil, "esb test CA", true)
	srvCert, srvKey := makeCert(t, ca, caKey, "127.0.0.1", false)
	cliCert, cliKey := makeCert(t, ca, caKey, "gateway", false)
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	certFile := write("server.pem", &pem.Block{Type: "CERTIFICATE", Bytes: srvCert.Raw})
	keyFile := write("server-key.pem", keyBlock(t, srvKey))

	// A free port for the TCP listener.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	svc, _ := newTestService(t, newFake(), nil)
	socket := filepath.Join(dir, "agent.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, svc, ListenConfig{Socket: socket, TCP: addr, TLSCert: certFile, TLSKey: keyFile, TLSCA: caFile}, svc.log)
	}()
	waitDial := func(network, a string) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.Dial(network, a)
			if err == nil {
				c.Close()
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s not listening: %v", network, a, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitDial("unix", socket)
	waitDial("tcp", addr)

	call := func(target string, creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer ccancel()
		r, err := agentv1.NewAgentServiceClient(conn).Health(cctx, &agentv1.HealthRequest{})
		if err == nil && !r.Serving {
			t.Errorf("not serving: %s", r.Message)
		}
		return err
	}
	if err := call("unix://"+socket, insecure.NewCredentials()); err != nil {
		t.Fatalf("unix socket: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	good := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{{Certificate: [][]byte{cliCert.Raw}, PrivateKey: cliKey}}}
	if err := call(addr, credentials.NewTLS(good)); err != nil {
		t.Fatalf("mutual TLS with a client certificate: %v", err)
	}
	if err := call(addr, credentials.NewTLS(&tls.Config{RootCAs: pool})); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if err := call(addr, insecure.NewCredentials()); err == nil {
		t.Fatal("a plaintext client was served on the TCP listener")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Error("socket left behind after stop")
	}
}

func TestServerTLSNeedsAllFiles(t *testing.T) {
	if _, err := ServerTLS("a", "", "c"); err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Fatalf("err = %v", err)
	}
	if _, err := ServerTLS("/nonexistent/cert", "/nonexistent/key", "/nonexistent/ca"); err == nil || !strings.Contains(err.Error(), "/nonexistent/cert") {
		t.Fatalf("err = %v", err)
	}
}

func makeCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func keyBlock(t *testing.T, k *ecdsa.PrivateKey) *pem.Block {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "EC PRIVATE KEY", Bytes: b}
}
