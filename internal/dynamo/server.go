// Package dynamo is esb's DynamoDB-compatible database: the DynamoDB JSON 1.0
// API over HTTP on top of the embedded engine in dynamo/store, with
// expressions from dynamo/expr.
package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeserverlessbox/esb/internal/dynamo/store"
	"github.com/edgeserverlessbox/esb/internal/h1"
)

// Config is the server's configuration, read once at start.
type Config struct {
	// Addr is the listen address (default ":8001").
	Addr string
	// DataDir holds the database file.
	DataDir string
	// Region is reported in ARNs and expected in signatures (default "us-east-1").
	Region string
	// Credentials maps access key IDs to secret keys. When empty, requests are
	// not authenticated; otherwise every request must carry a valid SigV4 signature.
	Credentials map[string]string
	// TTLInterval is how often expired items are deleted (default 5s).
	TTLInterval time.Duration
	// NoSync answers writes before their log reaches the disk (--sync off):
	// a crash of the process or the machine can lose the last moments of
	// acknowledged writes. The default syncs every commit.
	NoSync bool
	// AccountID is used in ARNs (default "000000000000").
	AccountID string
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = ":8001"
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.TTLInterval <= 0 {
		c.TTLInterval = 5 * time.Second
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server serves the DynamoDB API.
type Server struct {
	cfg      Config
	db       *store.DB
	log      *slog.Logger
	http     *h1.Server
	ln       net.Listener
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	signer   *verifier
	reqID    atomic.Uint64
	idPrefix string
	tokens   tokenCache
	bufs     sync.Pool
}

// NewServer opens the database and prepares the server; Start listens.
func NewServer(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("dynamodb: a data directory is required (--data-dir or ESB_DYNAMODB_DATA_DIR)")
	}
	db, err := store.Open(store.Options{Dir: cfg.DataDir, NoSync: cfg.NoSync})
	if err != nil {
		return nil, err
	}
	var p [6]byte
	_, _ = rand.Read(p[:])
	s := &Server{cfg: cfg, db: db, log: cfg.Logger, idPrefix: strings.ToUpper(hex.EncodeToString(p[:]))}
	if len(cfg.Credentials) > 0 {
		s.signer = newVerifier(cfg.Credentials, cfg.Region)
	}
	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	s.tokens.entries = map[string]tokenEntry{}
	return s, nil
}

// DB returns the engine (for tests and embedding).
func (s *Server) DB() *store.DB { return s.db }

// Start listens on the configured address and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dynamodb: listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.http = &h1.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute, Logger: s.log}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("dynamodb server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.db.RunSweeper(ctx, s.cfg.TTLInterval, s.log)
	}()
	s.log.Info("dynamodb listening", "addr", ln.Addr().String(), "data_dir", s.cfg.DataDir, "auth", s.signer != nil)
	return nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the server's endpoint URL on the loopback interface.
func (s *Server) URL() string {
	_, port, _ := net.SplitHostPort(s.Addr())
	return "http://127.0.0.1:" + port
}

// Close stops serving (waiting up to ctx for requests in flight) and closes the database.
func (s *Server) Close(ctx context.Context) error {
	var err error
	if s.http != nil {
		err = s.http.Shutdown(ctx)
		s.cancel()
		s.wg.Wait()
	}
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

const targetPrefix = "DynamoDB_20120810."

// maxBody bounds request bodies (BatchWriteItem of 25 × 400 KB items fits).
const maxBody = 16 << 20

type handlerFunc func(s *Server, ctx context.Context, body []byte, out []byte) ([]byte, error)

var operations = map[string]handlerFunc{
	"GetItem":            (*Server).getItem,
	"PutItem":            (*Server).putItem,
	"UpdateItem":         (*Server).updateItem,
	"DeleteItem":         (*Server).deleteItem,
	"Query":              (*Server).query,
	"Scan":               (*Server).scan,
	"BatchGetItem":       (*Server).batchGetItem,
	"BatchWriteItem":     (*Server).batchWriteItem,
	"TransactGetItems":   (*Server).transactGetItems,
	"TransactWriteItems": (*Server).transactWriteItems,
	"CreateTable":        (*Server).createTable,
	"DescribeTable":      (*Server).describeTable,
	"ListTables":         (*Server).listTables,
	"UpdateTable":        (*Server).updateTable,
	"DeleteTable":        (*Server).deleteTable,
	"UpdateTimeToLive":   (*Server).updateTimeToLive,
	"DescribeTimeToLive": (*Server).describeTimeToLive,
	"TagResource":        (*Server).tagResource,
	"UntagResource":      (*Server).untagResource,
	"ListTagsOfResource": (*Server).listTagsOfResource,
	"DescribeLimits":     (*Server).describeLimits,
	"DescribeEndpoints":  (*Server).describeEndpoints,
}

// unsupported are DynamoDB operations esb answers with UnknownOperationException
// and a message naming them, so users see what is missing.
var unsupported = map[string]bool{
	"ExecuteStatement": true, "BatchExecuteStatement": true, "ExecuteTransaction": true,
	"CreateBackup": true, "DeleteBackup": true, "DescribeBackup": true, "ListBackups": true, "RestoreTableFromBackup": true,
	"RestoreTableToPointInTime": true, "DescribeContinuousBackups": true, "UpdateContinuousBackups": true,
	"CreateGlobalTable": true, "UpdateGlobalTable": true, "DescribeGlobalTable": true, "ListGlobalTables": true,
	"DescribeGlobalTableSettings": true, "UpdateGlobalTableSettings": true, "UpdateTableReplicaAutoScaling": true,
	"DescribeTableReplicaAutoScaling": true, "ExportTableToPointInTime": true, "DescribeExport": true, "ListExports": true,
	"ImportTable": true, "DescribeImport": true, "ListImports": true, "DescribeKinesisStreamingDestination": true,
	"EnableKinesisStreamingDestination": true, "DisableKinesisStreamingDestination": true, "UpdateKinesisStreamingDestination": true,
	"DescribeContributorInsights": true, "ListContributorInsights": true, "UpdateContributorInsights": true,
	"GetResourcePolicy": true, "PutResourcePolicy": true, "DeleteResourcePolicy": true,
}

// ServeHTTP implements the DynamoDB JSON 1.0 protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := s.requestID()
	h := w.Header()
	h.Set("x-amzn-RequestId", id)
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		body := []byte("healthy: dynamodb." + s.cfg.Region + ".amazonaws.com ")
		h.Set("Content-Type", "text/plain")
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
		return
	}
	bp := s.bufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 1<<20 {
			s.bufs.Put(bp)
		}
	}()
	body, err := readBody(r, (*bp)[:0])
	if err != nil {
		s.writeError(w, err)
		return
	}
	*bp = body
	if r.Method != http.MethodPost {
		s.writeError(w, &APIError{Status: http.StatusMethodNotAllowed, Type: prefixService + "UnknownOperationException", Message: "Method not allowed"})
		return
	}
	if s.signer != nil {
		if err := s.signer.verify(r, body, time.Now()); err != nil {
			s.writeError(w, err)
			return
		}
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	fn := operations[op]
	if !ok || fn == nil {
		e := &APIError{Status: http.StatusBadRequest, Type: prefixService + "UnknownOperationException"}
		if unsupported[op] {
			e.Message = "esb dynamodb does not support " + op + " (see docs/dynamodb.md)"
		}
		s.writeError(w, e)
		return
	}
	out, err := s.call(fn, r.Context(), body)
	if err != nil {
		ae := toAPIError(err)
		if ae.Status >= 500 {
			s.log.Error("dynamodb request failed", "op", op, "request_id", id, "err", err)
		}
		s.writeError(w, ae)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// call runs an operation; a panic becomes an InternalServerError answer
// instead of a dropped connection.
func (s *Server) call(fn handlerFunc, ctx context.Context, body []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(s, ctx, body, make([]byte, 0, 256))
}

func readBody(r *http.Request, buf []byte) ([]byte, error) {
	if r.ContentLength > maxBody {
		return nil, &APIError{Status: http.StatusRequestEntityTooLarge, Type: prefixService + "RequestEntityTooLargeException", Message: "Request entity too large"}
	}
	if r.ContentLength > 0 && int64(cap(buf)) < r.ContentLength {
		buf = make([]byte, 0, r.ContentLength)
	}
	lr := io.LimitReader(r.Body, maxBody+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, serialization("read request body: " + err.Error())
		}
	}
	if len(buf) > maxBody {
		return nil, &APIError{Status: http.StatusRequestEntityTooLarge, Type: prefixService + "RequestEntityTooLargeException", Message: "Request entity too large"}
	}
	return buf, nil
}

func (s *Server) requestID() string {
	n := s.reqID.Add(1)
	var b [32]byte
	out := append(b[:0], s.idPrefix...)
	out = strconv.AppendUint(out, n, 36)
	return strings.ToUpper(string(out))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) writeError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	body := map[string]any{"__type": ae.Type}
	if ae.Message != "" {
		body["message"] = ae.Message
	}
	if ae.Reasons != nil {
		body["CancellationReasons"] = ae.Reasons
	}
	if ae.Item != nil {
		body["Item"] = ae.Item
	}
	data, _ := json.Marshal(body)
	writeJSON(w, ae.Status, data)
}

// decode unmarshals a request body, mapping errors to DynamoDB's.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			return ae
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return serialization(fmt.Sprintf("Unexpected value type in payload: field %s expected %s", ute.Field, ute.Type))
		}
		if e := toAPIError(err); e.Status < 500 {
			return e
		}
		return serialization("Malformed request body: " + err.Error())
	}
	return nil
}

func marshal(out []byte, v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(out, data...), nil
}

// ---- idempotency tokens of TransactWriteItems ----

type tokenEntry struct {
	hash [32]byte
	at   time.Time
	resp []byte
}

type tokenCache struct {
	mu      sync.Mutex
	entries map[string]tokenEntry
}

const tokenTTL = 10 * time.Minute

func (c *tokenCache) get(token string, hash [32]byte, now time.Time) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[token]
	if !ok || now.Sub(e.at) > tokenTTL {
		return nil, false, nil
	}
	if e.hash != hash {
		return nil, false, dynamoErr("IdempotentParameterMismatchException", "The request uses the same client token as a previous, but non-identical request.")
	}
	return e.resp, true, nil
}

func (c *tokenCache) put(token string, hash [32]byte, now time.Time, resp []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if now.Sub(e.at) > tokenTTL {
			delete(c.entries, k)
		}
	}
	c.entries[token] = tokenEntry{hash: hash, at: now, resp: append([]byte(nil), resp...)}
}
