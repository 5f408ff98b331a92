// Command dynamodb benchmarks esb's DynamoDB against dynalite in the same run:
// PutItem, GetItem and Query of 100 items (one client, then 32), and a 90/10
// read/write mix with 32 concurrent clients. Both servers keep their data on
// disk; both are driven by the same AWS SDK for Go v2 client code.
//
//	go run ./bench/dynamodb [-duration 3s] [-out bench-dynamodb.json]
//
// dynalite is installed with npm into a temporary directory outside the
// repository unless -dynalite points at an existing node_modules/.bin/dynalite
// (or -skip-dynalite is set).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgeserverlessbox/esb/internal/dynamo"
)

type config struct {
	duration     time.Duration
	clients      int
	out          string
	dynalite     string
	skipDynalite bool
	keys         int
	client       string
}

// Result is one workload on one server.
type Result struct {
	Server    string  `json:"server"`
	Workload  string  `json:"workload"`
	Clients   int     `json:"clients"`
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
}

// Report is the JSON the program writes.
type Report struct {
	Time     time.Time          `json:"time"`
	Machine  string             `json:"machine"`
	Client   string             `json:"client"`
	Duration string             `json:"duration_per_workload"`
	Results  []Result           `json:"results"`
	Ratios   map[string]float64 `json:"throughput_ratio_esb_over_dynalite"`
}

func main() {
	var cfg config
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "how long each workload runs")
	flag.IntVar(&cfg.clients, "clients", 32, "concurrent clients for the concurrent workloads")
	flag.StringVar(&cfg.out, "out", "bench-dynamodb.json", "where to write the JSON report")
	flag.StringVar(&cfg.dynalite, "dynalite", "", "path to an installed dynalite executable (default: npm install into a temp dir)")
	flag.BoolVar(&cfg.skipDynalite, "skip-dynalite", false, "benchmark esb only")
	flag.IntVar(&cfg.keys, "keys", 10000, "items preloaded for GetItem and the mix")
	flag.StringVar(&cfg.client, "client", "raw", "raw: a minimal JSON-over-HTTP client, so the servers are measured; sdk: AWS SDK for Go v2 (client CPU included)")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench/dynamodb:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "esb-bench-dynamodb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	type server struct {
		name string
		url  string
		stop func()
	}
	var servers []server

	srv, err := dynamo.NewServer(dynamo.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(tmp, "esb"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	servers = append(servers, server{"esb", srv.URL(), func() { _ = srv.Close(context.Background()) }})

	if !cfg.skipDynalite {
		bin := cfg.dynalite
		if bin == "" {
			if bin, err = installDynalite(filepath.Join(tmp, "npm")); err != nil {
				return err
			}
		}
		url, stop, err := startDynalite(bin, filepath.Join(tmp, "dynalite"))
		if err != nil {
			return err
		}
		defer stop()
		servers = append(servers, server{"dynalite", url, stop})
	}

	rep := Report{Time: time.Now().UTC(), Machine: machine(), Client: cfg.client, Duration: cfg.duration.String(), Ratios: map[string]float64{}}
	for _, sv := range servers {
		fmt.Fprintf(os.Stderr, "benchmarking %s at %s\n", sv.name, sv.url)
		res, err := benchServer(ctx, cfg, sv.name, sv.url)
		if err != nil {
			return fmt.Errorf("%s: %w", sv.name, err)
		}
		rep.Results = append(rep.Results, res...)
		sv.stop()
	}
	byKey := map[string]Result{}
	for _, r := range rep.Results {
		byKey[r.Server+"/"+r.Workload+"/"+strconv.Itoa(r.Clients)] = r
	}
	for _, r := range rep.Results {
		if r.Server != "esb" {
			continue
		}
		if d, ok := byKey["dynalite/"+r.Workload+"/"+strconv.Itoa(r.Clients)]; ok && d.OpsPerSec > 0 {
			rep.Ratios[r.Workload+"/"+strconv.Itoa(r.Clients)] = r.OpsPerSec / d.OpsPerSec
		}
	}
	printTable(os.Stdout, rep, byKey)
	data, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(cfg.out, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", cfg.out, err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", cfg.out)
	return nil
}

func machine() string {
	host, _ := os.Hostname()
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "model name") {
				model = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s, %s", model, runtime.NumCPU(), runtime.Version(), host)
}

func installDynalite(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintln(os.Stderr, "npm install dynalite into", dir)
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--prefix", dir, "dynalite@4")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm install dynalite: %w (pass -dynalite or -skip-dynalite)", err)
	}
	return filepath.Join(dir, "node_modules", ".bin", "dynalite"), nil
}

func startDynalite(bin, dataDir string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("node", bin, "--port", strconv.Itoa(port), "--path", dataDir)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start dynalite: %w", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("dynalite did not start listening")
}

func newClient(url string) *dynamodb.Client {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	return dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		BaseEndpoint:     aws.String(url),
		HTTPClient:       &http.Client{Transport: tr},
		RetryMaxAttempts: 1,
	})
}

var payload = strings.Repeat("p", 160)

func benchServer(ctx context.Context, cfg config, name, url string) ([]Result, error) {
	c := newClient(url)
	table := "bench"
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create table: %w", err)
	}
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		return nil, err
	}
	itemFor := func(pk string, sk int) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberN{Value: strconv.Itoa(sk)},
			"payload": &types.AttributeValueMemberS{Value: payload}, "n": &types.AttributeValueMemberN{Value: "42"},
		}
	}
	// Preload: keys for GetItem and the mix, one partition of 100 for Query.
	var reqs []types.WriteRequest
	flush := func() error {
		for len(reqs) > 0 {
			n := min(25, len(reqs))
			out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs[:n]}})
			if err != nil {
				return fmt.Errorf("preload: %w", err)
			}
			reqs = append(out.UnprocessedItems[table], reqs[n:]...)
		}
		return nil
	}
	for i := 0; i < cfg.keys; i++ {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: itemFor("k"+strconv.Itoa(i), 0)}})
		if len(reqs) == 25 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	for i := 0; i < 100; i++ {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: itemFor("query", i)}})
	}
	if err := flush(); err != nil {
		return nil, err
	}

	var putSeq atomic.Int64
	var ops map[string]func(r *rand.Rand) error
	if cfg.client == "sdk" {
		ops = sdkOps(ctx, c, table, cfg.keys, &putSeq, itemFor)
	} else {
		ops = rawOps(url, table, cfg.keys, &putSeq)
	}
	var results []Result
	for _, wl := range []struct {
		name    string
		clients int
	}{{"PutItem", 1}, {"GetItem", 1}, {"Query100", 1}, {"PutItem", cfg.clients}, {"GetItem", cfg.clients}, {"Query100", cfg.clients}, {"Mix90/10", cfg.clients}} {
		r := measure(name, wl.name, wl.clients, cfg.duration, ops[wl.name])
		fmt.Fprintf(os.Stderr, "  %-9s %2d clients: %8.0f ops/s p50 %.2f ms p99 %.2f ms errors %d\n", wl.name, wl.clients, r.OpsPerSec, r.P50Ms, r.P99Ms, r.Errors)
		results = append(results, r)
	}
	return results, nil
}

func measure(server, workload string, clients int, d time.Duration, op func(*rand.Rand) error) Result {
	// Warm up connections and caches.
	warm := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 50; i++ {
		_ = op(warm)
	}
	var wg sync.WaitGroup
	lat := make([][]time.Duration, clients)
	var errs atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 42))
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := op(r); err != nil {
					errs.Add(1)
					continue
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000
	}
	return Result{Server: server, Workload: workload, Clients: clients, Ops: int64(len(all)), Errors: errs.Load(),
		OpsPerSec: float64(len(all)) / elapsed.Seconds(), P50Ms: pct(0.50), P99Ms: pct(0.99)}
}

func printTable(w io.Writer, rep Report, byKey map[string]Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tclients\tesb ops/s\tesb p50 ms\tesb p99 ms\tdynalite ops/s\tdynalite p50 ms\tdynalite p99 ms\tesb/dynalite\t")
	for _, r := range rep.Results {
		if r.Server != "esb" {
			continue
		}
		k := r.Workload + "/" + strconv.Itoa(r.Clients)
		d, ok := byKey["dynalite/"+k]
		ratio := "-"
		if x, ok := rep.Ratios[k]; ok {
			ratio = fmt.Sprintf("%.1fx", x)
		}
		if ok {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.0f\t%.2f\t%.2f\t%s\t\n", r.Workload, r.Clients, r.OpsPerSec, r.P50Ms, r.P99Ms, d.OpsPerSec, d.P50Ms, d.P99Ms, ratio)
		} else {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t-\t-\t-\t-\t\n", r.Workload, r.Clients, r.OpsPerSec, r.P50Ms, r.P99Ms)
		}
	}
	tw.Flush()
}

func sdkOps(ctx context.Context, c *dynamodb.Client, table string, keys int, putSeq *atomic.Int64, itemFor func(string, int) map[string]types.AttributeValue) map[string]func(*rand.Rand) error {
	ops := map[string]func(r *rand.Rand) error{
		"PutItem": func(r *rand.Rand) error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: itemFor("w"+strconv.FormatInt(putSeq.Add(1), 10), 0)})
			return err
		},
		"GetItem": func(r *rand.Rand) error {
			out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "k" + strconv.Itoa(r.IntN(keys))}, "sk": &types.AttributeValueMemberN{Value: "0"}}})
			if err == nil && out.Item == nil {
				err = errors.New("item missing")
			}
			return err
		},
		"Query100": func(r *rand.Rand) error {
			out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table), KeyConditionExpression: aws.String("pk = :p"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "query"}}})
			if err == nil && out.Count != 100 {
				err = fmt.Errorf("query returned %d items", out.Count)
			}
			return err
		},
	}
	ops["Mix90/10"] = func(r *rand.Rand) error {
		if r.IntN(10) == 0 {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: itemFor("k"+strconv.Itoa(r.IntN(keys)), 0)})
			return err
		}
		return ops["GetItem"](r)
	}
	return ops
}

// rawOps sends prebuilt DynamoDB JSON requests over keep-alive HTTP: what an
// SDK sends, without the SDK's own CPU cost, so the servers are compared.
func rawOps(url, table string, keys int, putSeq *atomic.Int64) map[string]func(*rand.Rand) error {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
	send := func(target string, body []byte, check string) error {
		req, err := http.NewRequest(http.MethodPost, url, bytesReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+target)
		// Neither server verifies signatures in this run; dynalite wants the headers present.
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00")
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %d %s", target, resp.StatusCode, data)
		}
		if check != "" && !strings.Contains(string(data), check) {
			return fmt.Errorf("%s: response lacks %s", target, check)
		}
		return nil
	}
	put := func(pk string) error {
		body := `{"TableName":"` + table + `","Item":{"pk":{"S":"` + pk + `"},"sk":{"N":"0"},"payload":{"S":"` + payload + `"},"n":{"N":"42"}}}`
		return send("PutItem", []byte(body), "")
	}
	get := func(r *rand.Rand) error {
		body := `{"TableName":"` + table + `","Key":{"pk":{"S":"k` + strconv.Itoa(r.IntN(keys)) + `"},"sk":{"N":"0"}}}`
		return send("GetItem", []byte(body), `"Item"`)
	}
	query := []byte(`{"TableName":"` + table + `","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"query"}}}`)
	return map[string]func(*rand.Rand) error{
		"PutItem":  func(r *rand.Rand) error { return put("w" + strconv.FormatInt(putSeq.Add(1), 10)) },
		"GetItem":  get,
		"Query100": func(r *rand.Rand) error { return send("Query", query, `"Count":100`) },
		"Mix90/10": func(r *rand.Rand) error {
			if r.IntN(10) == 0 {
				return put("k" + strconv.Itoa(r.IntN(keys)))
			}
			return get(r)
		},
	}
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
