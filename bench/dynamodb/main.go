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
	"bufio"
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
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	only         string
	runs         int
	serveDir     string
	serveAddr    string
	serveSync    string
	esbSync      string
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
	// CPUMicrosPerOp is the server process's user+system CPU per operation.
	CPUMicrosPerOp float64 `json:"server_cpu_us_per_op"`
	// ClientCPUMicrosPerOp is the benchmark client's own CPU per operation.
	ClientCPUMicrosPerOp float64 `json:"client_cpu_us_per_op"`
}

// Report is the JSON the program writes.
type Report struct {
	Time     time.Time `json:"time"`
	Machine  string    `json:"machine"`
	Client   string    `json:"client"`
	Duration string    `json:"duration_per_workload"`
	Runs     int       `json:"runs"`
	// Results are the medians over the runs of each measure; All has every run.
	Results []Result           `json:"results"`
	All     []Result           `json:"all_runs"`
	Ratios  map[string]float64 `json:"throughput_ratio_esb_over_dynalite"`
	// CPURatios is dynalite's server CPU per operation over esb's.
	CPURatios map[string]float64 `json:"cpu_efficiency_ratio_dynalite_over_esb"`
}

func main() {
	var cfg config
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "how long each workload runs")
	flag.IntVar(&cfg.clients, "clients", 32, "concurrent clients for the concurrent workloads")
	flag.StringVar(&cfg.out, "out", "bench-dynamodb.json", "where to write the JSON report")
	flag.StringVar(&cfg.dynalite, "dynalite", "", "path to an installed dynalite executable (default: npm install into a temp dir)")
	flag.BoolVar(&cfg.skipDynalite, "skip-dynalite", false, "benchmark esb only")
	flag.IntVar(&cfg.keys, "keys", 10000, "items preloaded for GetItem and the mix")
	flag.StringVar(&cfg.client, "client", "epoll", "epoll: prebuilt requests on one keep-alive connection per client, all driven from one thread with epoll (least client CPU, so the servers are measured); wire: the same with a goroutine per client; raw: the same over net/http; sdk: AWS SDK for Go v2")
	flag.IntVar(&cfg.runs, "runs", 3, "repetitions; the report gives the median of each measure")
	flag.StringVar(&cfg.only, "only", "", "run only workloads whose name contains this (e.g. GetItem)")
	flag.StringVar(&cfg.serveDir, "serve-esb", "", "internal: run esb's DynamoDB server on this data directory (the benchmark starts itself this way)")
	flag.StringVar(&cfg.serveAddr, "serve-addr", "127.0.0.1:0", "internal: listen address with -serve-esb")
	flag.StringVar(&cfg.serveSync, "serve-sync", "always", "internal: esb's --sync with -serve-esb")
	flag.StringVar(&cfg.esbSync, "esb-sync", "always,off", "esb's --sync settings to benchmark, comma-separated: always (the default: every acknowledged write is on disk) and off (dynalite's durability)")
	flag.Parse()
	if cfg.serveDir != "" {
		if err := serve(cfg.serveDir, cfg.serveAddr, cfg.serveSync); err != nil {
			fmt.Fprintln(os.Stderr, "bench/dynamodb: serve:", err)
			os.Exit(1)
		}
		return
	}
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
	bin := cfg.dynalite
	if bin == "" && !cfg.skipDynalite {
		if bin, err = installDynalite(filepath.Join(tmp, "npm")); err != nil {
			return err
		}
	}
	var names []string
	for _, mode := range strings.Split(cfg.esbSync, ",") {
		switch strings.TrimSpace(mode) {
		case "always":
			names = append(names, esbName)
		case "off":
			names = append(names, esbNoSyncName)
		default:
			return fmt.Errorf("-esb-sync %q: want always, off or both", cfg.esbSync)
		}
	}
	if !cfg.skipDynalite {
		names = append(names, "dynalite")
	}
	rep := Report{Time: time.Now().UTC(), Machine: machine(), Client: cfg.client, Duration: cfg.duration.String(), Runs: cfg.runs,
		Ratios: map[string]float64{}, CPURatios: map[string]float64{}}
	for i := 0; i < cfg.runs; i++ {
		order := names
		if i%2 == 1 { // alternate who goes first, to spread the machine's noise
			order = slices.Clone(names)
			slices.Reverse(order)
		}
		for _, name := range order {
			dir := filepath.Join(tmp, fmt.Sprintf("run%d-%s", i, name))
			var url string
			var pid int
			var stop func()
			switch name {
			case esbName:
				url, pid, stop, err = startESB(dir, "always")
			case esbNoSyncName:
				url, pid, stop, err = startESB(dir, "off")
			default:
				url, pid, stop, err = startDynalite(bin, dir)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "run %d: benchmarking %s at %s\n", i+1, name, url)
			res, err := benchServer(ctx, cfg, name, url, pid)
			stop()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			rep.All = append(rep.All, res...)
		}
	}
	rep.Results = medians(rep.All)
	byKey := map[string]Result{}
	for _, r := range rep.Results {
		byKey[r.Server+"/"+r.Workload+"/"+strconv.Itoa(r.Clients)] = r
	}
	for _, r := range rep.Results {
		if r.Server == "dynalite" {
			continue
		}
		k := r.Workload + "/" + strconv.Itoa(r.Clients)
		if r.Server != esbName {
			k = r.Server + "/" + k
		}
		if d, ok := byKey["dynalite/"+r.Workload+"/"+strconv.Itoa(r.Clients)]; ok && d.OpsPerSec > 0 {
			rep.Ratios[k] = r.OpsPerSec / d.OpsPerSec
			if r.CPUMicrosPerOp > 0 {
				rep.CPURatios[k] = d.CPUMicrosPerOp / r.CPUMicrosPerOp
			}
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

func startDynalite(bin, dataDir string) (string, int, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("node", bin, "--port", strconv.Itoa(port), "--path", dataDir)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start dynalite: %w", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := waitListen(addr); err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("dynalite: %w", err)
	}
	return "http://" + addr, cmd.Process.Pid, stop, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitListen(addr string) error {
	for i := 0; i < 400; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("did not start listening on " + addr)
}

// startESB runs esb's server in a child process (this program with
// -serve-esb), so its CPU time is measured apart from the clients'.
// The server names in the report: esb as configured by default, and esb
// with --sync off, whose durability is dynalite's.
const (
	esbName       = "esb"
	esbNoSyncName = "esb --sync off"
)

func startESB(dataDir, syncMode string) (string, int, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(self, "-serve-esb", dataDir, "-serve-addr", addr, "-serve-sync", syncMode)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start esb: %w", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
		})
	}
	if err := waitListen(addr); err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("esb: %w", err)
	}
	return "http://" + addr, cmd.Process.Pid, stop, nil
}

// serve runs esb's DynamoDB server (durable: fsync per commit) until
// interrupted. With ESB_BENCH_DYNAMODB_CPUPROFILE set, the server writes a CPU
// profile there (each server process appends its pid to the name).
func serve(dir, addr, sync string) error {
	noSync, err := dynamo.ParseSync(sync)
	if err != nil {
		return err
	}
	if path := os.Getenv("ESB_BENCH_DYNAMODB_CPUPROFILE"); path != "" {
		f, err := os.Create(path + "." + strconv.Itoa(os.Getpid()))
		if err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	srv, err := dynamo.NewServer(dynamo.Config{Addr: addr, DataDir: dir, NoSync: noSync, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return srv.Close(context.Background())
}

// cpuTicks returns a process's user+system CPU time in clock ticks (1/100 s).
func cpuTicks(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
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

func benchServer(ctx context.Context, cfg config, name, url string, pid int) ([]Result, error) {
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
	build := requests(table, cfg.keys, &putSeq)
	var ops map[string]func(r *worker) error
	switch cfg.client {
	case "sdk":
		ops = sdkOps(ctx, c, table, cfg.keys, &putSeq, itemFor)
	case "wire", "raw":
		ops = rawOps(url, build, cfg.client == "wire")
	case "epoll":
		ops = rawOps(url, build, true) // for the warm-up
	default:
		return nil, fmt.Errorf("unknown -client %q (epoll, wire, raw or sdk)", cfg.client)
	}
	var results []Result
	for _, wl := range []struct {
		name    string
		clients int
	}{{"PutItem", 1}, {"GetItem", 1}, {"Query100", 1}, {"PutItem", cfg.clients}, {"GetItem", cfg.clients}, {"Query100", cfg.clients}, {"Mix90/10", cfg.clients}} {
		if cfg.only != "" && !strings.Contains(wl.name, cfg.only) {
			continue
		}
		drive := goroutines(wl.clients, cfg.duration, ops[wl.name])
		if cfg.client == "epoll" {
			host, next := strings.TrimPrefix(url, "http://"), build[wl.name]
			drive = func() ([]time.Duration, int64, time.Duration, error) {
				return runEpoll(host, wl.clients, cfg.duration, next)
			}
		}
		r, err := measure(name, wl.name, wl.clients, ops[wl.name], drive, pid)
		if err != nil {
			return nil, fmt.Errorf("%s with %d clients: %w", wl.name, wl.clients, err)
		}
		fmt.Fprintf(os.Stderr, "  %-9s %2d clients: %8.0f ops/s p50 %.2f ms p99 %.2f ms server CPU %.0f us/op client CPU %.0f us/op errors %d\n", wl.name, wl.clients, r.OpsPerSec, r.P50Ms, r.P99Ms, r.CPUMicrosPerOp, r.ClientCPUMicrosPerOp, r.Errors)
		results = append(results, r)
	}
	return results, nil
}

// goroutines is the load of -client wire, raw and sdk: one goroutine per
// client, each calling op in a loop until d has passed.
func goroutines(clients int, d time.Duration, op func(*worker) error) func() ([]time.Duration, int64, time.Duration, error) {
	return func() ([]time.Duration, int64, time.Duration, error) {
		var wg sync.WaitGroup
		lat := make([][]time.Duration, clients)
		var errs atomic.Int64
		start := time.Now()
		deadline := start.Add(d)
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := &worker{Rand: rand.New(rand.NewPCG(uint64(i), 42))}
				defer r.close()
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
		return all, errs.Load(), elapsed, nil
	}
}

// measure warms the server up with op, then runs drive and reduces what it
// measured, with the server's and the client's CPU over the run.
func measure(server, workload string, clients int, op func(*worker) error, drive func() ([]time.Duration, int64, time.Duration, error), pid int) (Result, error) {
	// Warm up connections and caches.
	warm := &worker{Rand: rand.New(rand.NewPCG(7, 7))}
	defer warm.close()
	for i := 0; i < 50; i++ {
		_ = op(warm)
	}
	cpu0, self0 := cpuTicks(pid), cpuTicks(os.Getpid())
	all, errs, elapsed, err := drive()
	if err != nil {
		return Result{}, err
	}
	cpu, self := cpuTicks(pid)-cpu0, cpuTicks(os.Getpid())-self0
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000
	}
	r := Result{Server: server, Workload: workload, Clients: clients, Ops: int64(len(all)), Errors: errs,
		OpsPerSec: float64(len(all)) / elapsed.Seconds(), P50Ms: pct(0.50), P99Ms: pct(0.99)}
	if len(all) > 0 {
		r.CPUMicrosPerOp = float64(cpu) * 10000 / float64(len(all)) // ticks are 10 ms
		r.ClientCPUMicrosPerOp = float64(self) * 10000 / float64(len(all))
	}
	return r, nil
}

func printTable(w io.Writer, rep Report, byKey map[string]Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tworkload\tclients\tops/s\tp50 ms\tp99 ms\tCPU us/op\tdynalite ops/s\tp50 ms\tp99 ms\tCPU us/op\tthroughput ratio\tCPU ratio\t")
	for _, r := range rep.Results {
		if r.Server == "dynalite" {
			continue
		}
		k := r.Workload + "/" + strconv.Itoa(r.Clients)
		d, ok := byKey["dynalite/"+k]
		if r.Server != esbName {
			k = r.Server + "/" + k
		}
		ratio := "-"
		if x, ok := rep.Ratios[k]; ok {
			ratio = fmt.Sprintf("%.1fx", x)
		}
		cpuRatio := "-"
		if x, ok := rep.CPURatios[k]; ok {
			cpuRatio = fmt.Sprintf("%.1fx", x)
		}
		if ok {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.0f\t%.0f\t%.2f\t%.2f\t%.0f\t%s\t%s\t\n", r.Server, r.Workload, r.Clients, r.OpsPerSec, r.P50Ms, r.P99Ms, r.CPUMicrosPerOp,
				d.OpsPerSec, d.P50Ms, d.P99Ms, d.CPUMicrosPerOp, ratio, cpuRatio)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.0f\t-\t-\t-\t-\t-\t-\t\n", r.Server, r.Workload, r.Clients, r.OpsPerSec, r.P50Ms, r.P99Ms, r.CPUMicrosPerOp)
		}
	}
	tw.Flush()
}

func sdkOps(ctx context.Context, c *dynamodb.Client, table string, keys int, putSeq *atomic.Int64, itemFor func(string, int) map[string]types.AttributeValue) map[string]func(*worker) error {
	ops := map[string]func(r *worker) error{
		"PutItem": func(r *worker) error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: itemFor("w"+strconv.FormatInt(putSeq.Add(1), 10), 0)})
			return err
		},
		"GetItem": func(r *worker) error {
			out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "k" + strconv.Itoa(r.IntN(keys))}, "sk": &types.AttributeValueMemberN{Value: "0"}}})
			if err == nil && out.Item == nil {
				err = errors.New("item missing")
			}
			return err
		},
		"Query100": func(r *worker) error {
			out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table), KeyConditionExpression: aws.String("pk = :p"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "query"}}})
			if err == nil && out.Count != 100 {
				err = fmt.Errorf("query returned %d items", out.Count)
			}
			return err
		},
	}
	ops["Mix90/10"] = func(r *worker) error {
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
// request is one prebuilt DynamoDB call: the operation, its JSON body and a
// string the answer must contain ("" for none).
type request struct {
	target string
	body   []byte
	check  string
}

// requests builds each workload's next request from a client's random source.
func requests(table string, keys int, putSeq *atomic.Int64) map[string]func(*rand.Rand) request {
	put := func(pk string) request {
		body := `{"TableName":"` + table + `","Item":{"pk":{"S":"` + pk + `"},"sk":{"N":"0"},"payload":{"S":"` + payload + `"},"n":{"N":"42"}}}`
		return request{target: "PutItem", body: []byte(body)}
	}
	get := func(r *rand.Rand) request {
		body := `{"TableName":"` + table + `","Key":{"pk":{"S":"k` + strconv.Itoa(r.IntN(keys)) + `"},"sk":{"N":"0"}}}`
		return request{target: "GetItem", body: []byte(body), check: `"Item"`}
	}
	query := request{target: "Query", body: []byte(`{"TableName":"` + table + `","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"query"}}}`), check: `"Count":100`}
	return map[string]func(*rand.Rand) request{
		"PutItem":  func(*rand.Rand) request { return put("w" + strconv.FormatInt(putSeq.Add(1), 10)) },
		"GetItem":  get,
		"Query100": func(*rand.Rand) request { return query },
		"Mix90/10": func(r *rand.Rand) request {
			if r.IntN(10) == 0 {
				return put("k" + strconv.Itoa(r.IntN(keys)))
			}
			return get(r)
		},
	}
}

// rawOps sends the workloads' requests over one keep-alive connection per
// client (wire) or through net/http.
func rawOps(url string, reqs map[string]func(*rand.Rand) request, wire bool) map[string]func(*worker) error {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
	host := strings.TrimPrefix(url, "http://")
	send := func(w *worker, rq request) error {
		if wire {
			return w.wire(host, rq)
		}
		req, err := http.NewRequest(http.MethodPost, url, bytesReader(rq.body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+rq.target)
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
			return fmt.Errorf("%s: %d %s", rq.target, resp.StatusCode, data)
		}
		if rq.check != "" && !strings.Contains(string(data), rq.check) {
			return fmt.Errorf("%s: response lacks %s", rq.target, rq.check)
		}
		return nil
	}
	ops := map[string]func(*worker) error{}
	for name, next := range reqs {
		ops[name] = func(w *worker) error { return send(w, next(w.Rand)) }
	}
	return ops
}

// appendRequest appends req as the HTTP/1.1 bytes an SDK sends (signature
// headers present, not checked by either server in this run).
func appendRequest(b []byte, host string, req request) []byte {
	b = append(b, "POST / HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810."...)
	b = append(b, req.target...)
	b = append(b, "\r\nX-Amz-Date: 20260101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(req.body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, req.body...)
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// medians reduces repeated results to the median of each measure.
func medians(all []Result) []Result {
	type key struct {
		server, workload string
		clients          int
	}
	groups := map[key][]Result{}
	var order []key
	for _, r := range all {
		k := key{r.Server, r.Workload, r.Clients}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	med := func(rs []Result, f func(Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	var out []Result
	for _, k := range order {
		rs := groups[k]
		r := Result{Server: k.server, Workload: k.workload, Clients: k.clients}
		for _, x := range rs {
			r.Ops += x.Ops
			r.Errors += x.Errors
		}
		r.OpsPerSec = med(rs, func(r Result) float64 { return r.OpsPerSec })
		r.P50Ms = med(rs, func(r Result) float64 { return r.P50Ms })
		r.P99Ms = med(rs, func(r Result) float64 { return r.P99Ms })
		r.CPUMicrosPerOp = med(rs, func(r Result) float64 { return r.CPUMicrosPerOp })
		r.ClientCPUMicrosPerOp = med(rs, func(r Result) float64 { return r.ClientCPUMicrosPerOp })
		out = append(out, r)
	}
	return out
}

// worker is one benchmark client: its random source and, in wire mode, its
// own keep-alive connection.
type worker struct {
	*rand.Rand
	conn net.Conn
	rd   *bufio.Reader
	buf  []byte
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
	}
}

// wire sends one request as HTTP/1.1 bytes and reads the response by its
// Content-Length (both servers send one).
func (w *worker) wire(host string, req request) error {
	if w.conn == nil {
		c, err := net.Dial("tcp", host)
		if err != nil {
			return err
		}
		w.conn, w.rd = c, bufio.NewReaderSize(c, 64<<10)
	}
	b := appendRequest(w.buf[:0], host, req)
	w.buf = b
	target, check := req.target, req.check
	fail := func(err error) error {
		w.conn.Close()
		w.conn = nil
		return err
	}
	if _, err := w.conn.Write(b); err != nil {
		return fail(err)
	}
	status, err := w.rd.ReadSlice('\n')
	if err != nil {
		return fail(err)
	}
	ok200 := len(status) > 12 && string(status[9:12]) == "200"
	n := -1
	for {
		line, err := w.rd.ReadSlice('\n')
		if err != nil {
			return fail(err)
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && strings.EqualFold(string(line[:15]), "content-length:") {
			n, _ = strconv.Atoi(strings.TrimSpace(string(line[15:])))
		}
	}
	if n < 0 {
		return fail(errors.New("response without Content-Length"))
	}
	resp := make([]byte, n)
	if _, err := io.ReadFull(w.rd, resp); err != nil {
		return fail(err)
	}
	if !ok200 {
		return fmt.Errorf("%s: %s %s", target, strings.TrimSpace(string(status)), resp)
	}
	if check != "" && !bytes.Contains(resp, []byte(check)) {
		return fmt.Errorf("%s: response lacks %s", target, check)
	}
	return nil
}
