// Package console serves the S3 web console (`esb s3`, :9001): a small browser UI
// to list buckets, browse, upload, download and delete objects, and make
// presigned links. Its assets are embedded; it loads nothing from the network.
// The console signs in with the S3 credentials and talks to the S3 API as a
// client, so it works the same against any S3-compatible endpoint.
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

//go:embed assets
var assets embed.FS

// Defaults.
const (
	DefaultPresignExpiry = time.Hour
	MaxPresignExpiry     = 7 * 24 * time.Hour // SigV4's limit
	sessionTTL           = 12 * time.Hour
	cookieName           = "esb_console"
	csrfHeader           = "X-Esb-Console"
)

// Config configures the console.
type Config struct {
	// Listen is the console's address, e.g. ":9001".
	Listen string
	// Client talks to the S3 API.
	Client *s3.Client
	// S3Port is the S3 API's port; presigned links point at the host the
	// browser used, on this port.
	S3Port string
	// S3URL, when set, is the base URL presigned links use instead.
	S3URL string
	// AccessKey and SecretKey are what a user signs in with.
	AccessKey string
	SecretKey string
	Logger    *slog.Logger
}

// Server is a running console.
type Server struct {
	cfg      Config
	ln       net.Listener
	http     *http.Server
	mu       sync.Mutex
	sessions map[string]time.Time
}

// New binds the console's listener.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("console: listen on %s: %w", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, ln: ln, sessions: map[string]time.Time{}}
	s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx is cancelled.
func (s *Server) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.http.Shutdown(sctx)
	}()
	s.cfg.Logger.Info("s3 console: serving", "listen", s.ln.Addr().String())
	if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("console on %s: %w", s.cfg.Listen, err)
	}
	return nil
}

// Handler returns the console's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServer(http.FS(static))
	mux.Handle("GET /", securityHeaders(files))
	mux.HandleFunc("POST /api/login", s.login)
	mux.HandleFunc("POST /api/logout", s.authed(s.logout))
	mux.HandleFunc("GET /api/buckets", s.authed(s.listBuckets))
	mux.HandleFunc("POST /api/buckets", s.authed(s.createBucket))
	mux.HandleFunc("GET /api/objects", s.authed(s.listObjects))
	mux.HandleFunc("PUT /api/object", s.authed(s.upload))
	mux.HandleFunc("GET /api/object", s.authed(s.download))
	mux.HandleFunc("DELETE /api/object", s.authed(s.deleteObject))
	mux.HandleFunc("POST /api/presign", s.authed(s.presign))
	return mux
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// authed requires a session cookie, and for state-changing requests the
// console's own header, which a cross-site form cannot send.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		if err != nil || !s.validSession(c.Value) {
			writeError(w, http.StatusUnauthorized, "sign in first")
			return
		}
		if r.Method != http.MethodGet && r.Header.Get(csrfHeader) != "1" {
			writeError(w, http.StatusForbidden, "missing "+csrfHeader+" header")
			return
		}
		h(w, r)
	}
}

func (s *Server) validSession(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.sessions[tok]
	if !ok {
		return false
	}
	if time.Now().After(exp) {
		delete(s.sessions, tok)
		return false
	}
	return true
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "body must be JSON with accessKey and secretKey")
		return
	}
	okA := subtle.ConstantTimeCompare([]byte(in.AccessKey), []byte(s.cfg.AccessKey))
	okS := subtle.ConstantTimeCompare([]byte(in.SecretKey), []byte(s.cfg.SecretKey))
	if okA&okS != 1 {
		s.cfg.Logger.Warn("s3 console: failed sign-in", "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "wrong access key or secret key")
		return
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		writeError(w, http.StatusInternalServerError, "make session: "+err.Error())
		return
	}
	tok := hex.EncodeToString(b[:])
	now := time.Now()
	s.mu.Lock()
	for t, exp := range s.sessions {
		if now.After(exp) {
			delete(s.sessions, t)
		}
	}
	s.sessions[tok] = now.Add(sessionTTL)
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	writeJSON(w, map[string]string{"status": "ok"})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.mu.Lock()
		delete(s.sessions, c.Value)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1})
	writeJSON(w, map[string]string{"status": "ok"})
}

type bucketJSON struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

func (s *Server) listBuckets(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Client.ListBuckets(r.Context(), &s3.ListBucketsInput{})
	if err != nil {
		s.s3Error(w, "list buckets", err)
		return
	}
	list := make([]bucketJSON, 0, len(out.Buckets))
	for _, b := range out.Buckets {
		list = append(list, bucketJSON{Name: aws.ToString(b.Name), Created: aws.ToTime(b.CreationDate)})
	}
	writeJSON(w, map[string]any{"buckets": list})
}

func (s *Server) createBucket(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil || in.Name == "" {
		writeError(w, http.StatusBadRequest, "body must be JSON with the bucket's name")
		return
	}
	if _, err := s.cfg.Client.CreateBucket(r.Context(), &s3.CreateBucketInput{Bucket: &in.Name}); err != nil {
		s.s3Error(w, "create bucket "+in.Name, err)
		return
	}
	writeJSON(w, map[string]string{"status": "ok"})
}

type objectJSON struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified"`
	ETag         string    `json:"etag"`
}

func (s *Server) listObjects(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bucket, prefix, token := q.Get("bucket"), q.Get("prefix"), q.Get("token")
	in := &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix, Delimiter: aws.String("/"), MaxKeys: aws.Int32(500)}
	if token != "" {
		in.ContinuationToken = &token
	}
	out, err := s.cfg.Client.ListObjectsV2(r.Context(), in)
	if err != nil {
		s.s3Error(w, "list objects of "+bucket, err)
		return
	}
	objs := make([]objectJSON, 0, len(out.Contents))
	for _, o := range out.Contents {
		objs = append(objs, objectJSON{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified), ETag: aws.ToString(o.ETag)})
	}
	prefixes := make([]string, 0, len(out.CommonPrefixes))
	for _, p := range out.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	writeJSON(w, map[string]any{"objects": objs, "prefixes": prefixes, "next": aws.ToString(out.NextContinuationToken)})
}

// upload streams the request body into the object; the browser sends the
// file as the body with its length.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bucket, key := q.Get("bucket"), q.Get("key")
	if bucket == "" || key == "" {
		writeError(w, http.StatusBadRequest, "bucket and key are required")
		return
	}
	if r.ContentLength < 0 {
		writeError(w, http.StatusLengthRequired, "Content-Length is required")
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = mime.TypeByExtension(path.Ext(key))
	}
	in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: r.Body, ContentLength: aws.Int64(r.ContentLength)}
	if ct != "" {
		in.ContentType = &ct
	}
	_, err := s.cfg.Client.PutObject(r.Context(), in, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil {
		s.s3Error(w, "upload "+key, err)
		return
	}
	s.cfg.Logger.Info("s3 console: uploaded", "bucket", bucket, "key", key, "size", r.ContentLength)
	writeJSON(w, map[string]string{"status": "ok"})
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bucket, key := q.Get("bucket"), q.Get("key")
	out, err := s.cfg.Client.GetObject(r.Context(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		s.s3Error(w, "download "+key, err)
		return
	}
	defer out.Body.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(key)}))
	if out.ContentLength != nil {
		h.Set("Content-Length", strconv.FormatInt(*out.ContentLength, 10))
	}
	if _, err := io.Copy(w, out.Body); err != nil {
		s.cfg.Logger.Warn("s3 console: download interrupted", "bucket", bucket, "key", key, "err", err)
	}
}

func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bucket, key := q.Get("bucket"), q.Get("key")
	if _, err := s.cfg.Client.DeleteObject(r.Context(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		s.s3Error(w, "delete "+key, err)
		return
	}
	s.cfg.Logger.Info("s3 console: deleted", "bucket", bucket, "key", key)
	writeJSON(w, map[string]string{"status": "ok"})
}

// presign returns a presigned GET URL for the object, addressed to the host the
// browser reached the console on.
func (s *Server) presign(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Bucket  string `json:"bucket"`
		Key     string `json:"key"`
		Seconds int    `json:"seconds"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 8192)).Decode(&in); err != nil || in.Bucket == "" || in.Key == "" {
		writeError(w, http.StatusBadRequest, "body must be JSON with bucket, key and seconds")
		return
	}
	exp := DefaultPresignExpiry
	if in.Seconds > 0 {
		exp = time.Duration(in.Seconds) * time.Second
	}
	if exp > MaxPresignExpiry {
		writeError(w, http.StatusBadRequest, "a presigned link lasts at most 7 days (604800 seconds)")
		return
	}
	base := s.cfg.S3URL
	if base == "" {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		base = "http://" + net.JoinHostPort(host, s.cfg.S3Port)
	}
	pc := s3.NewPresignClient(s.cfg.Client, s3.WithPresignExpires(exp), func(o *s3.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, func(o *s3.Options) { o.BaseEndpoint = aws.String(base) })
	})
	req, err := pc.PresignGetObject(r.Context(), &s3.GetObjectInput{Bucket: &in.Bucket, Key: &in.Key})
	if err != nil {
		s.s3Error(w, "presign "+in.Key, err)
		return
	}
	writeJSON(w, map[string]any{"url": req.URL, "expires": time.Now().Add(exp).UTC()})
}

func (s *Server) s3Error(w http.ResponseWriter, what string, err error) {
	status := http.StatusBadGateway
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() >= 400 {
		status = re.HTTPStatusCode()
	}
	msg := err.Error()
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg = ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	writeError(w, status, what+": "+msg)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
