// Package auth implements the gateway's client authentication: the login
// endpoint (x-api-key, then USERNAME/PASSWORD) that issues a JWT IdToken, and
// the verification of `Authorization: Bearer <IdToken>` on API routes.
package auth

import (
	"bufio"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// MinSecretLen is the shortest JWT secret accepted (HS256 wants ≥ 256 bits).
const MinSecretLen = 32

// HeaderUserAuthorized is set on login responses once the API key was accepted.
const HeaderUserAuthorized = "PADMA_USER_AUTHORIZED"

// Config configures an Authenticator.
type Config struct {
	// APIKey is the value the login endpoint expects in x-api-key.
	APIKey string
	// Secret signs and verifies tokens (HS256); at least MinSecretLen bytes.
	Secret string
	// TokenTTL is the lifetime of an IdToken.
	TokenTTL time.Duration
	// Users maps user names to a password: "plain:<password>" or a hash made
	// by HashPassword ("pbkdf2-sha256$…").
	Users map[string]string
	// Issuer is the iss claim; empty = "esb".
	Issuer string
}

// Authenticator issues and verifies IdTokens.
type Authenticator struct {
	cfg Config
	key []byte

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	id  *Identity
	exp time.Time
}

// Identity is a verified token's claims, as strings (as API Gateway passes
// Cognito claims), and the same claims rendered once as a JSON object.
type Identity struct {
	Claims     map[string]string
	ClaimsJSON []byte
}

// Errors of Verify.
var (
	ErrNoToken      = errors.New("missing bearer token")
	ErrInvalidToken = errors.New("invalid token")
)

// New checks cfg and returns an Authenticator. A secret shorter than
// MinSecretLen or an empty API key is refused.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Secret == "" {
		return nil, fmt.Errorf("JWT_SECRET_KEY is not set: use a random secret of at least %d characters (e.g. `openssl rand -hex 32`)", MinSecretLen)
	}
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("JWT_SECRET_KEY is %d characters long: use a random secret of at least %d (e.g. `openssl rand -hex 32`)", len(cfg.Secret), MinSecretLen)
	}
	if cfg.APIKey == "" {
		return nil, fmt.Errorf("X_API_KEY is empty: set the API key clients send in x-api-key to %s", "the auth endpoint")
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 3000 * time.Second
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "esb"
	}
	for name, pw := range cfg.Users {
		if !strings.HasPrefix(pw, "plain:") && !strings.HasPrefix(pw, "pbkdf2-sha256$") {
			return nil, fmt.Errorf("user %q: password must be plain:<password> or a pbkdf2-sha256 hash", name)
		}
	}
	return &Authenticator{
		cfg: cfg, key: []byte(cfg.Secret), cache: map[string]cached{},
	}, nil
}

var subNamespace = uuid.MustParse("5f8a3b1e-6c1d-4f0a-9a57-2d7c1e0b9e11")

// Issue makes an IdToken for user, valid from now for the configured lifetime.
// Its claims follow a Cognito IdToken: sub, cognito:username, token_use, …
func (a *Authenticator) Issue(user string, now time.Time) (string, error) {
	claims := jwt.MapClaims{
		"sub":              uuid.NewSHA1(subNamespace, []byte(user)).String(),
		"cognito:username": user,
		"token_use":        "id",
		"iss":              a.cfg.Issuer,
		"aud":              "esb",
		"auth_time":        now.Unix(),
		"iat":              now.Unix(),
		"exp":              now.Add(a.cfg.TokenTTL).Unix(),
		"jti":              uuid.NewString(),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header.
func BearerToken(header string) (string, bool) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(header[len(prefix):])
	return tok, tok != ""
}

// Verify checks an Authorization header and returns the token's claims as
// strings (as API Gateway passes Cognito claims in requestContext.authorizer.claims).
func (a *Authenticator) Verify(authorization string, now time.Time) (map[string]string, error) {
	id, err := a.Identify(authorization, now)
	if err != nil {
		return nil, err
	}
	return id.Claims, nil
}

// Identify is Verify returning the Identity; a token seen before is answered
// from a cache without parsing it again.
func (a *Authenticator) Identify(authorization string, now time.Time) (*Identity, error) {
	tok, ok := BearerToken(authorization)
	if !ok {
		return nil, ErrNoToken
	}
	a.mu.Lock()
	c, hit := a.cache[tok]
	a.mu.Unlock()
	if hit {
		if now.Before(c.exp) {
			return c.id, nil
		}
		return nil, fmt.Errorf("%w: token has expired", ErrInvalidToken)
	}
	mc := jwt.MapClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithIssuer(a.cfg.Issuer), jwt.WithTimeFunc(func() time.Time { return now }))
	if _, err := parser.ParseWithClaims(tok, mc, func(*jwt.Token) (any, error) { return a.key, nil }); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	claims := StringClaims(mc)
	rendered, err := json.Marshal(claims) // sorted keys
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	id := &Identity{Claims: claims, ClaimsJSON: rendered}
	exp, _ := mc.GetExpirationTime()
	a.mu.Lock()
	if len(a.cache) >= 4096 {
		clear(a.cache)
	}
	a.cache[tok] = cached{id: id, exp: exp.Time}
	a.mu.Unlock()
	return id, nil
}

// LoginResult is the outcome of a login request.
type LoginResult struct {
	// Status is the HTTP status: 200, 400 or 401.
	Status int
	// UserAuthorized tells whether PADMA_USER_AUTHORIZED: true is sent (the API
	// key was accepted).
	UserAuthorized bool
	// Body is the JSON response body.
	Body []byte
}

var unauthorized = []byte(`{"message":"Unauthorized"}`)

// Login handles POST <auth path>: the x-api-key must match, then
// AuthParameters.USERNAME/PASSWORD must be a configured user.
func (a *Authenticator) Login(apiKey string, body []byte, now time.Time) LoginResult {
	if subtle.ConstantTimeCompare([]byte(apiKey), []byte(a.cfg.APIKey)) != 1 {
		return LoginResult{Status: 401, Body: unauthorized}
	}
	var req struct {
		AuthParameters struct {
			USERNAME string
			PASSWORD string
		}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return LoginResult{Status: 400, UserAuthorized: true, Body: []byte(`{"message":"Bad Request: body must be {\"AuthParameters\":{\"USERNAME\":…,\"PASSWORD\":…}}"}`)}
	}
	user, pass := req.AuthParameters.USERNAME, req.AuthParameters.PASSWORD
	if user == "" || !a.checkPassword(user, pass) {
		return LoginResult{Status: 401, UserAuthorized: true, Body: unauthorized}
	}
	tok, err := a.Issue(user, now)
	if err != nil {
		return LoginResult{Status: 500, UserAuthorized: true, Body: []byte(`{"message":"Internal server error"}`)}
	}
	out, _ := json.Marshal(map[string]any{"AuthenticationResult": map[string]string{"IdToken": tok}})
	return LoginResult{Status: 200, UserAuthorized: true, Body: out}
}

func (a *Authenticator) checkPassword(user, pass string) bool {
	stored, ok := a.cfg.Users[user]
	if !ok {
		// Spend the same time as for a real user, so names cannot be probed.
		CheckPassword("pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", pass)
		return false
	}
	return CheckPassword(stored, pass)
}

const pbkdf2Iterations = 210_000

// HashPassword returns a salted PBKDF2-SHA256 hash of password for a users file.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, pbkdf2Iterations, 32)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", pbkdf2Iterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword compares password with a stored "plain:<pw>" or
// "pbkdf2-sha256$<iterations>$<salt>$<key>" (unpadded standard base64).
func CheckPassword(stored, password string) bool {
	if pw, ok := strings.CutPrefix(stored, "plain:"); ok {
		return subtle.ConstantTimeCompare([]byte(pw), []byte(password)) == 1
	}
	parts := strings.Split(stored, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
	if err != nil {
		return false
	}
	return hmac.Equal(got, want)
}

// LoadUsersFile reads "name:hash" lines (blank lines and # comments ignored).
func LoadUsersFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read users file: %w", err)
	}
	defer f.Close()
	users := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || name == "" || !strings.HasPrefix(hash, "pbkdf2-sha256$") {
			return nil, fmt.Errorf("%s:%d: want name:pbkdf2-sha256$… (make a hash with `esb gateway hash-password`)", path, n)
		}
		users[name] = hash
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return users, nil
}

// StringClaims renders a token's decoded claims as the strings API Gateway
// puts in requestContext.authorizer.claims: strings as they are, numbers and
// booleans in their JSON form, anything else as JSON.
func StringClaims(m map[string]any) map[string]string {
	claims := make(map[string]string, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case string:
			claims[k] = x
		case float64:
			claims[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			claims[k] = strconv.FormatBool(x)
		default:
			b, _ := json.Marshal(x)
			claims[k] = string(b)
		}
	}
	return claims
}
