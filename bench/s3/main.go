// Command s3 benchmarks the embedded S3 server (`esb s3`) against a plain
// local-disk copy of the same bytes, in one run:
//
//	go run ./bench/s3 [-json bench-s3.json]
//
// It builds esb (or uses -esb), starts `esb s3` on a free port with its data
// on the same filesystem as the disk floor, measures its idle RSS, then PUT and
// GET of 1 KiB objects (sequential and with 32 clients) and of 64 MiB objects
// with the AWS SDK for Go v2, and the same writes and reads as files. One-client
// rows alternate the server's and the floor's operations so that both run under
// the same machine conditions. With -http-floor it also measures a minimal
// net/http file server on loopback (no S3), which separates the cost of HTTP
// over loopback from the cost of the S3 engine. It prints a table and writes the
// figures as JSON.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeserverlessbox/esb/internal/s3/s3client"
)

type options struct {
	esb        string
	jsonOut    string
	smallOps   int
	clients    int
	largeSize  int
	largeCount int
	dir        string
	rows       string
	httpFloor  bool
}

// Result is one measured row.
type Result struct {
	Name       string  `json:"name"`
	Target     string  `json:"target"` // "esb s3", "disk" or "http" (-http-floor)
	Ops        int     `json:"ops"`
	Clients    int     `json:"clients"`
	Bytes      int     `json:"bytes_per_op"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	MiBPerSec  float64 `json:"mib_per_sec"`
	RatioFloor float64 `json:"ratio_to_disk_floor,omitempty"` // esb throughput / disk throughput
}

// Report is the JSON document.
type Report struct {
	Time        time.Time `json:"time"`
	GoVersion   string    `json:"go_version"`
	CPUs        int       `json:"cpus"`
	IdleRSSMiB  float64   `json:"idle_rss_mib"`
	IdleAnonMiB float64   `json:"idle_rss_anon_mib"` // private memory of esb s3
	IdleFileMiB float64   `json:"idle_rss_file_mib"` // pages of the esb binary (shared, evictable)
	// VersionRSSMiB is the RSS of `esb version`, the same binary doing
	// nothing: the baseline the binary's size alone costs.
	VersionRSSMiB float64  `json:"esb_version_rss_mib"`
	AfterRSSMiB   float64  `json:"rss_after_load_mib"`
	Results       []Result `json:"results"`
	Targets       []string `json:"targets"`
}

func main() {
	var o options
	flag.StringVar(&o.esb, "esb", "", "esb binary (default: go build ./cmd/esb into a temporary directory)")
	flag.StringVar(&o.jsonOut, "json", "", "write the report as JSON to this file")
	flag.IntVar(&o.smallOps, "small-ops", 2000, "1 KiB operations per small-object row")
	flag.IntVar(&o.clients, "clients", 32, "concurrent clients of the parallel rows")
	flag.IntVar(&o.largeSize, "large-size", 64<<20, "size of a large object in bytes")
	flag.IntVar(&o.largeCount, "large-count", 6, "large objects per row")
	flag.StringVar(&o.dir, "dir", "", "working directory (default: a temporary directory beside the system's temp dir)")
	flag.StringVar(&o.rows, "rows", "", "run only the rows whose name matches this regular expression")
	flag.BoolVar(&o.httpFloor, "http-floor", false, "also measure a minimal net/http file server on loopback (no S3, no auth, no hashing): the cost of HTTP itself")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/s3:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx := context.Background()
	work := o.dir
	if work == "" {
		d, err := os.MkdirTemp("", "esb-bench-s3-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	bin := o.esb
	if bin == "" {
		bin = filepath.Join(work, "esb")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/esb")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/esb (run from the repository root): %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	const access, secret = "benchadmin", "bench-secret-key"
	dataDir := filepath.Join(work, "s3data")
	cmd := exec.Command(bin, "s3", "--data-dir", dataDir, "--listen", "127.0.0.1:"+port, "--console-listen", "off", "--lifecycle-interval", "0")
	cmd.Env = append(os.Environ(), "ESB_S3_ACCESS_KEY="+access, "ESB_S3_SECRET_KEY="+secret)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start esb s3: %w", err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	endpoint := "http://127.0.0.1:" + port
	if err := waitHealthy(endpoint); err != nil {
		return fmt.Errorf("%w\n%s", err, logs.String())
	}
	time.Sleep(2 * time.Second) // let start-up garbage settle
	rep := Report{Time: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Targets: []string{"1 KiB PUT p50 < 2 ms", "64 MiB throughput >= 50% of disk floor", "idle RSS < 30 MiB"}}
	mem, err := rss(cmd.Process.Pid)
	if err != nil {
		return err
	}
	rep.IdleRSSMiB, rep.IdleAnonMiB, rep.IdleFileMiB = mem["VmRSS"], mem["RssAnon"], mem["RssFile"]
	if rep.VersionRSSMiB, err = versionRSS(bin); err != nil {
		return err
	}

	c := s3client.New(s3client.Config{Endpoint: endpoint, AccessKey: access, SecretKey: secret})
	bucket := "bench"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	floorDir := filepath.Join(work, "floor")
	if err := os.MkdirAll(floorDir, 0o755); err != nil {
		return err
	}
	small := make([]byte, 1024)
	for i := range small {
		small[i] = byte(rand.IntN(256))
	}
	large := make([]byte, o.largeSize)
	for i := range large {
		large[i] = byte(i*7 + i>>9)
	}
	unsigned := s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

	s3Put := func(key string, body []byte) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}, unsigned)
		return err
	}
	// Every target reads bodies through the same 1 MiB buffers: io.Discard's
	// own ReadFrom would read the HTTP body 8 KiB per call while the floor
	// reads the file 1 MiB at a time.
	getBufs := sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}
	s3Get := func(key string, want int) error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return err
		}
		bp := getBufs.Get().(*[]byte)
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{out.Body}, *bp)
		getBufs.Put(bp)
		out.Body.Close()
		if err == nil && int(n) != want {
			err = fmt.Errorf("GET %s: %d bytes, want %d", key, n, want)
		}
		return err
	}
	diskPut := func(key string, body []byte) error {
		p := filepath.Join(floorDir, key)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, body, 0o644)
	}
	diskGet := func(key string, want int) error {
		f, err := os.Open(filepath.Join(floorDir, key))
		if err != nil {
			return err
		}
		defer f.Close()
		bp := getBufs.Get().(*[]byte)
		defer getBufs.Put(bp)
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, *bp)
		if err == nil && int(n) != want {
			err = fmt.Errorf("read %s: %d bytes, want %d", key, n, want)
		}
		return err
	}
	diskGetPar := func(key string, want int) error {
		b, err := os.ReadFile(filepath.Join(floorDir, key))
		if err == nil && len(b) != want {
			err = fmt.Errorf("read %s: %d bytes, want %d", key, len(b), want)
		}
		return err
	}

	var httpPut func(string, []byte) error
	var httpGet func(string, int) error
	if o.httpFloor {
		stop, base, err := startHTTPFloor(filepath.Join(work, "httpfloor"), &getBufs)
		if err != nil {
			return err
		}
		defer stop()
		hc := s3client.NewHTTPClient()
		httpPut = func(key string, body []byte) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+key, bytes.NewReader(body))
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("http floor PUT %s: %s", key, resp.Status)
			}
			return nil
		}
		httpGet = func(key string, want int) error {
			resp, err := hc.Get(base + key)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			bp := getBufs.Get().(*[]byte)
			n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, *bp)
			getBufs.Put(bp)
			if err == nil && int(n) != want {
				err = fmt.Errorf("http floor GET %s: %d bytes, want %d", key, n, want)
			}
			return err
		}
	}
	row := func(name, tgt string, ops, clients, size int, fn func(i int) error) (Result, error) {
		lat := make([]time.Duration, ops)
		var wg sync.WaitGroup
		var first error
		var mu sync.Mutex
		next := make(chan int, ops)
		for i := 0; i < ops; i++ {
			next <- i
		}
		close(next)
		start := time.Now()
		for w := 0; w < clients; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					t0 := time.Now()
					if err := fn(i); err != nil {
						mu.Lock()
						if first == nil {
							first = err
						}
						mu.Unlock()
						return
					}
					lat[i] = time.Since(t0)
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		if first != nil {
			return Result{}, fmt.Errorf("%s (%s): %w", name, tgt, first)
		}
		return summarise(name, tgt, clients, size, lat, el), nil
	}
	// seqRows measures one-client rows with the targets' operations
	// alternating (server i, floor i, server i+1, …), so that all see the same
	// machine: a neighbour's burst of CPU or I/O, dirty-page writeback, or the
	// file system's inode allocator state (on ext4 without a journal every new
	// inode scans the recently deleted ones) hits every row alike instead of
	// whichever ran during it. Throughput is operations over each target's own
	// summed time.
	seqRows := func(name string, ops, size int, tg []namedOp) ([]Result, error) {
		lat := make([][]time.Duration, len(tg))
		busy := make([]time.Duration, len(tg))
		for k := range tg {
			lat[k] = make([]time.Duration, ops)
		}
		for i := 0; i < ops; i++ {
			for k, t := range tg {
				t0 := time.Now()
				if err := t.fn(i); err != nil {
					return nil, fmt.Errorf("%s (%s): %w", name, t.target, err)
				}
				lat[k][i] = time.Since(t0)
				busy[k] += lat[k][i]
			}
		}
		out := make([]Result, len(tg))
		for k, t := range tg {
			out[k] = summarise(name, t.target, 1, size, lat[k], busy[k])
		}
		return out, nil
	}
	// add appends a row's results; every target but the disk floor gets its
	// throughput as a ratio to the floor's.
	add := func(rs []Result) {
		var disk float64
		for _, r := range rs {
			if r.Target == "disk" {
				disk = r.OpsPerSec
			}
		}
		for _, r := range rs {
			if r.Target != "disk" && disk > 0 {
				r.RatioFloor = r.OpsPerSec / disk
			}
			rep.Results = append(rep.Results, r)
		}
	}
	only, err := regexp.Compile(o.rows)
	if err != nil {
		return fmt.Errorf("-rows: %w", err)
	}
	pair := func(name string, ops, clients, size int, esbFn, diskFn, httpFn func(i int) error) error {
		if !only.MatchString(name) {
			return nil
		}
		tg := []namedOp{{"esb s3", esbFn}, {"disk", diskFn}}
		if o.httpFloor {
			tg = append(tg, namedOp{"http", httpFn})
		}
		// Warm-up of every path.
		for i := 0; i < min(ops, 20); i++ {
			for _, t := range tg {
				_ = t.fn(i)
			}
		}
		if clients == 1 {
			rs, err := seqRows(name, ops, size, tg)
			if err != nil {
				return err
			}
			add(rs)
			return nil
		}
		var rs []Result
		for _, t := range tg {
			r, err := row(name, t.target, ops, clients, size, t.fn)
			if err != nil {
				return err
			}
			rs = append(rs, r)
		}
		add(rs)
		return nil
	}
	smallKey := func(prefix string, i int) string {
		return prefix + "/" + strconv.Itoa(i%50) + "/obj-" + strconv.Itoa(i)
	}

	if err := pair("PUT 1 KiB sequential", o.smallOps, 1, 1024,
		func(i int) error { return s3Put(smallKey("seq", i), small) },
		func(i int) error { return diskPut(smallKey("seq", i), small) },
		func(i int) error { return httpPut(smallKey("seq", i), small) }); err != nil {
		return err
	}
	if err := pair("GET 1 KiB sequential", o.smallOps, 1, 1024,
		func(i int) error { return s3Get(smallKey("seq", i), 1024) },
		func(i int) error { return diskGetPar(smallKey("seq", i), 1024) },
		func(i int) error { return httpGet(smallKey("seq", i), 1024) }); err != nil {
		return err
	}
	parOps := o.smallOps * 4
	if err := pair(fmt.Sprintf("PUT 1 KiB %d clients", o.clients), parOps, o.clients, 1024,
		func(i int) error { return s3Put(smallKey("par", i), small) },
		func(i int) error { return diskPut(smallKey("par", i), small) },
		func(i int) error { return httpPut(smallKey("par", i), small) }); err != nil {
		return err
	}
	if err := pair(fmt.Sprintf("GET 1 KiB %d clients", o.clients), parOps, o.clients, 1024,
		func(i int) error { return s3Get(smallKey("par", i), 1024) },
		func(i int) error { return diskGetPar(smallKey("par", i), 1024) },
		func(i int) error { return httpGet(smallKey("par", i), 1024) }); err != nil {
		return err
	}
	largeName := fmt.Sprintf("%d MiB", o.largeSize>>20)
	if err := pair("PUT "+largeName+" sequential", o.largeCount, 1, o.largeSize,
		func(i int) error { return s3Put("large/"+strconv.Itoa(i), large) },
		func(i int) error { return diskPut("large/"+strconv.Itoa(i), large) },
		func(i int) error { return httpPut("large/"+strconv.Itoa(i), large) }); err != nil {
		return err
	}
	if err := pair("GET "+largeName+" sequential", o.largeCount, 1, o.largeSize,
		func(i int) error { return s3Get("large/"+strconv.Itoa(i), o.largeSize) },
		func(i int) error { return diskGet("large/"+strconv.Itoa(i), o.largeSize) },
		func(i int) error { return httpGet("large/"+strconv.Itoa(i), o.largeSize) }); err != nil {
		return err
	}
	if after, err := rss(cmd.Process.Pid); err == nil {
		rep.AfterRSSMiB = after["VmRSS"]
	}

	printTable(os.Stdout, rep)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// summarise turns the latencies of one row and the time it took into a Result.
func summarise(name, tgt string, clients, size int, lat []time.Duration, el time.Duration) Result {
	ops := len(lat)
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	return Result{Name: name, Target: tgt, Ops: ops, Clients: clients, Bytes: size,
		P50Ms: ms(lat[ops/2]), P99Ms: ms(lat[(ops*99)/100]), OpsPerSec: float64(ops) / el.Seconds(),
		MiBPerSec: float64(ops) * float64(size) / (1 << 20) / el.Seconds()}
}

func printTable(w io.Writer, rep Report) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "row\ttarget\tops\tp50 ms\tp99 ms\tops/s\tMiB/s\tesb/disk\t\n")
	for _, r := range rep.Results {
		ratio := ""
		if r.RatioFloor > 0 {
			ratio = fmt.Sprintf("%.2f", r.RatioFloor)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%.3f\t%.0f\t%.1f\t%s\t\n", r.Name, r.Target, r.Ops, r.P50Ms, r.P99Ms, r.OpsPerSec, r.MiBPerSec, ratio)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nesb s3 idle RSS %.1f MiB = %.1f MiB private + %.1f MiB pages of the binary; `esb version` alone %.1f MiB; after load %.1f MiB (%d CPUs, %s)\n",
		rep.IdleRSSMiB, rep.IdleAnonMiB, rep.IdleFileMiB, rep.VersionRSSMiB, rep.AfterRSSMiB, rep.CPUs, rep.GoVersion)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p, nil
}

func waitHealthy(endpoint string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(endpoint + "/.esb/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("esb s3 at %s did not become healthy within 15 s", endpoint)
}

// rss reads VmRSS, RssAnon and RssFile of a process, in MiB.
func rss(pid int) (map[string]float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("read RSS of esb s3: %w", err)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "RssAnon:" || f[0] == "RssFile:") {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return nil, fmt.Errorf("parse %s: %w", line, err)
			}
			m[strings.TrimSuffix(f[0], ":")] = kb / 1024
		}
	}
	if _, ok := m["VmRSS"]; !ok {
		return nil, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// versionRSS is the peak RSS of `esb version`.
func versionRSS(bin string) (float64, error) {
	cmd := exec.Command(bin, "version")
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("esb version: %w", err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, nil
	}
	return float64(ru.Maxrss) / 1024, nil
}

// namedOp is one target's operation in a row.
type namedOp struct {
	target string
	fn     func(i int) error
}

// startHTTPFloor serves PUT and GET of plain files under dir with net/http on
// a loopback port: the same transport as the S3 server's, without SigV4,
// hashing, metadata or atomic publication. PUT copies the body into the file
// through a 1 MiB buffer (as the S3 engine does); GET answers with
// Content-Length and lets net/http send the *os.File with sendfile. It returns
// a stop function and the base URL ("http://127.0.0.1:port/").
func startHTTPFloor(dir string, bufs *sync.Pool) (func(), string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("http floor: %w", err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := filepath.Join(dir, filepath.FromSlash(filepath.Clean("/"+r.URL.Path)))
		switch r.Method {
		case http.MethodPut:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			f, err := os.Create(p)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			bp := bufs.Get().(*[]byte)
			_, err = io.CopyBuffer(struct{ io.Writer }{f}, r.Body, *bp)
			bufs.Put(bp)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		case http.MethodGet:
			f, err := os.Open(p)
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
			_, _ = io.Copy(w, f)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("http floor: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, "http://" + ln.Addr().String() + "/", nil
}
