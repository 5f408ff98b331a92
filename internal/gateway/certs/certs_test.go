package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEnsureCreatesReusesAndRenews(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cp, kp, err := Ensure(dir, []string{"edge.local", "10.1.2.3"}, now)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(cp)
	// A second run keeps the certificate.
	if _, _, err := Ensure(dir, []string{"edge.local"}, now); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(cp); string(again) != string(first) {
		t.Error("certificate re-issued although still valid")
	}
	// A new host renews it, signed by the same CA.
	caBefore, _ := os.ReadFile(filepath.Join(dir, CAFile))
	if _, _, err := Ensure(dir, []string{"other.local"}, now); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(cp); string(again) == string(first) {
		t.Error("certificate not re-issued for a new host")
	}
	if caAfter, _ := os.ReadFile(filepath.Join(dir, CAFile)); string(caAfter) != string(caBefore) {
		t.Error("CA must be kept")
	}
	// Expiring soon → renewed.
	if _, _, err := Ensure(dir, []string{"other.local"}, now.Add(380*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(kp); info.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", info.Mode())
	}
}

func TestServerCertIsTrustedThroughTheCA(t *testing.T) {
	dir := t.TempDir()
	cp, kp, err := Ensure(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.Proto)) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	pool, err := Pool(dir)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, ForceAttemptHTTP2: true}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatalf("TLS with the local CA: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("proto %s, want HTTP/2", resp.Proto)
	}
	// Without the CA the certificate is not trusted.
	_, err = (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}).Get(srv.URL)
	if err == nil {
		t.Error("untrusted CA accepted")
	}
}
