// Package certs creates the local certificate authority of esb and the
// gateway's server certificate signed by it, and installs the CA into the
// system trust store (Debian's update-ca-certificates).
package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// File names inside the certificate directory.
const (
	CAFile     = "ca.crt"
	CAKeyFile  = "ca.key"
	CertFile   = "server.crt"
	KeyFile    = "server.key"
	trustName  = "esb-local-ca.crt"
	caLifetime = 10 * 365 * 24 * time.Hour
	// Server certificates live 397 days (browsers refuse longer ones).
	certLifetime = 397 * 24 * time.Hour
)

// DefaultHosts are the names every server certificate covers.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1", "gateway"}

// Ensure makes sure dir holds a CA and a server certificate for hosts
// (plus DefaultHosts and the machine's hostname), creating or renewing what
// is missing, expiring within 30 days, or lacking a host. It returns the paths
// of the server certificate and key.
func Ensure(dir string, hosts []string, now time.Time) (certPath, keyPath string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create certificate directory: %w", err)
	}
	ca, caKey, err := ensureCA(dir, now)
	if err != nil {
		return "", "", err
	}
	all := append(slices.Clone(DefaultHosts), hosts...)
	if h, err := os.Hostname(); err == nil && h != "" {
		all = append(all, h)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	certPath, keyPath = filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	if cert, err := loadCert(certPath); err == nil && valid(cert, now) && covers(cert, all) && cert.CheckSignatureFrom(ca) == nil {
		if _, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
			return certPath, keyPath, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"esb"}, CommonName: "esb gateway"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range all {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", fmt.Errorf("sign server certificate: %w", err)
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

func ensureCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	caPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	cert, err := loadCert(caPath)
	if err == nil && now.Before(cert.NotAfter.Add(-30*24*time.Hour)) {
		key, err := loadKey(keyPath)
		if err != nil {
			return nil, nil, fmt.Errorf("local CA key %s: %w (remove %s to make a new CA)", keyPath, err, dir)
		}
		return cert, key, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("local CA %s: %w (remove it to make a new CA)", caPath, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"esb local CA"}, CommonName: "esb local CA " + host},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	if err := writePair(caPath, keyPath, der, key); err != nil {
		return nil, nil, err
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return cert, key, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func valid(c *x509.Certificate, now time.Time) bool {
	return now.After(c.NotBefore) && now.Before(c.NotAfter.Add(-30*24*time.Hour))
}

func covers(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func loadCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: not a PEM certificate", path)
	}
	return x509.ParseCertificate(b.Bytes)
}

func loadKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s: not a PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", path)
	}
	return ek, nil
}

func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", keyPath, err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", certPath, err)
	}
	return nil
}

// InstallCA copies the CA certificate of dir into the system trust store
// (/usr/local/share/ca-certificates, then update-ca-certificates). It needs root.
func InstallCA(dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return "", fmt.Errorf("read local CA: %w (run `esb gateway certs` first)", err)
	}
	const storeDir = "/usr/local/share/ca-certificates"
	dst := filepath.Join(storeDir, trustName)
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
		return dst, nil
	}
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		return "", fmt.Errorf("install CA: %w (needs root)", err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return "", fmt.Errorf("install CA into %s: %w (needs root)", dst, err)
	}
	out, err := exec.Command("update-ca-certificates").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("update-ca-certificates: %w: %s", err, bytes.TrimSpace(out))
	}
	return dst, nil
}

// Pool returns a cert pool holding the CA of dir, for clients (tests, esb CLI).
func Pool(dir string) (*x509.CertPool, error) {
	data, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("read local CA: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("local CA %s: no certificate", filepath.Join(dir, CAFile))
	}
	return p, nil
}
