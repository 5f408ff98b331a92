package auth

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const secret = "0123456789abcdef0123456789abcdef"

func newAuth(t *testing.T) *Authenticator {
	t.Helper()
	a, err := New(Config{APIKey: "key", Secret: secret, TokenTTL: time.Hour, Users: map[string]string{"alice": "plain:wonder"}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewRefusesWeakConfig(t *testing.T) {
	if _, err := New(Config{APIKey: "k", Secret: "short"}); err == nil || !strings.Contains(err.Error(), "JWT_SECRET_KEY") {
		t.Errorf("short secret: %v", err)
	}
	if _, err := New(Config{Secret: secret}); err == nil || !strings.Contains(err.Error(), "X_API_KEY") {
		t.Errorf("empty api key: %v", err)
	}
	if _, err := New(Config{APIKey: "k", Secret: secret, Users: map[string]string{"u": "md5:x"}}); err == nil {
		t.Error("unknown password scheme accepted")
	}
}

func TestLoginFlow(t *testing.T) {
	a := newAuth(t)
	now := time.Unix(1_700_000_000, 0)
	body := `{"AuthParameters":{"USERNAME":"alice","PASSWORD":"wonder"}}`

	r := a.Login("wrong", []byte(body), now)
	if r.Status != 401 || r.UserAuthorized {
		t.Errorf("bad api key: %+v (no PADMA_USER_AUTHORIZED header expected)", r)
	}
	r = a.Login("key", []byte(`{"AuthParameters":{"USERNAME":"alice","PASSWORD":"nope"}}`), now)
	if r.Status != 401 || !r.UserAuthorized {
		t.Errorf("bad password: %+v (PADMA_USER_AUTHORIZED: true expected)", r)
	}
	r = a.Login("key", []byte(`{"AuthParameters":{"USERNAME":"bob","PASSWORD":"wonder"}}`), now)
	if r.Status != 401 || !r.UserAuthorized {
		t.Errorf("unknown user: %+v", r)
	}
	r = a.Login("key", []byte(`not json`), now)
	if r.Status != 400 {
		t.Errorf("bad body: %+v", r)
	}
	r = a.Login("key", []byte(body), now)
	if r.Status != 200 || !r.UserAuthorized {
		t.Fatalf("good login: %+v", r)
	}
	var out struct{ AuthenticationResult struct{ IdToken string } }
	if err := json.Unmarshal(r.Body, &out); err != nil || out.AuthenticationResult.IdToken == "" {
		t.Fatalf("login body %s: %v", r.Body, err)
	}
	claims, err := a.Verify("Bearer "+out.AuthenticationResult.IdToken, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if claims["cognito:username"] != "alice" || claims["token_use"] != "id" || len(claims["sub"]) != 36 || claims["exp"] != "1700003600" {
		t.Errorf("claims: %v", claims)
	}
	// The same user always gets the same sub.
	tok2, _ := a.Issue("alice", now.Add(time.Second))
	c2, _ := a.Verify("bearer "+tok2, now.Add(2*time.Second))
	if c2["sub"] != claims["sub"] {
		t.Error("sub must be stable per user")
	}
	// Expired (also from the cache).
	if _, err := a.Verify("Bearer "+out.AuthenticationResult.IdToken, now.Add(2*time.Hour)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("expired token: %v", err)
	}
	b := newAuth(t)
	if _, err := b.Verify("Bearer "+out.AuthenticationResult.IdToken, now.Add(2*time.Hour)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("expired token, uncached: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	a := newAuth(t)
	now := time.Now()
	if _, err := a.Verify("", now); !errors.Is(err, ErrNoToken) {
		t.Errorf("no header: %v", err)
	}
	if _, err := a.Verify("Basic abc", now); !errors.Is(err, ErrNoToken) {
		t.Errorf("basic: %v", err)
	}
	if _, err := a.Verify("Bearer garbage", now); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("garbage: %v", err)
	}
	// Signed with another key.
	other, _ := New(Config{APIKey: "k", Secret: strings.Repeat("x", 32)})
	tok, _ := other.Issue("alice", now)
	if _, err := a.Verify("Bearer "+tok, now); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("foreign key: %v", err)
	}
	// alg none and a token without exp.
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "x", "iss": "esb", "exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := a.Verify("Bearer "+none, now); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("alg none: %v", err)
	}
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "x", "iss": "esb"}).SignedString([]byte(secret))
	if _, err := a.Verify("Bearer "+noExp, now); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("no exp: %v", err)
	}
}

func TestPasswordHashAndUsersFile(t *testing.T) {
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "s3cret") || CheckPassword(h, "s3cret!") || CheckPassword("pbkdf2-sha256$x$y$z", "a") {
		t.Error("CheckPassword")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "users")
	os.WriteFile(p, []byte("# users\n\nbob:"+h+"\n"), 0o600)
	users, err := LoadUsersFile(p)
	if err != nil || users["bob"] != h {
		t.Fatalf("users file: %v %v", users, err)
	}
	a, err := New(Config{APIKey: "k", Secret: secret, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	if r := a.Login("k", []byte(`{"AuthParameters":{"USERNAME":"bob","PASSWORD":"s3cret"}}`), time.Now()); r.Status != 200 {
		t.Errorf("login with hashed password: %+v", r)
	}
	os.WriteFile(p, []byte("bob:plaintext\n"), 0o600)
	if _, err := LoadUsersFile(p); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad line: %v", err)
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	a, _ := New(Config{APIKey: "k", Secret: secret})
	now := time.Now()
	tok, _ := a.Issue("alice", now)
	h := "Bearer " + tok
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Verify(h, now); err != nil {
			b.Fatal(err)
		}
	}
}
