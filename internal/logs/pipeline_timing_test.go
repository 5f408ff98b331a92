package logs

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/agent"
)

// benchLines are esb-rie output lines of one invoke: START, 100 runtime
// lines, END, REPORT.
func benchLines() [][]byte {
	const req = "8f0c2b1e-6a3d-4c55-9d4e-0c1f2a3b4c5d"
	const trace = "Root=1-6745a0b0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	out := [][]byte{[]byte(`{"time":"` + ts + `","type":"platform.start","level":"info","function":"chatty","request_id":"` + req + `","trace_id":"` + trace + `","message":"START RequestId: ` + req + ` Version: $LATEST"}`)}
	for i := 0; i < 100; i++ {
		out = append(out, fmt.Appendf(nil, `{"time":"%s","type":"function","level":"info","function":"chatty","request_id":"%s","trace_id":"%s","stream":"stdout","message":"processing item %d of the batch: status ok, 12 ms"}`, ts, req, trace, i))
	}
	out = append(out, []byte(`{"time":"`+ts+`","type":"platform.end","level":"info","function":"chatty","request_id":"`+req+`","trace_id":"`+trace+`","message":"END RequestId: `+req+`"}`))
	out = append(out, []byte(`{"time":"`+ts+`","type":"platform.report","level":"info","function":"chatty","request_id":"`+req+`","trace_id":"`+trace+`","duration_ms":15.74,"billed_duration_ms":16,"memory_size_mb":128,"max_memory_used_mb":56,"message":"REPORT RequestId: `+req+`\tDuration: 15.74 ms\tBilled Duration: 16 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\t"}`))
	return out
}

// BenchmarkSinkToLocalStore: worker lines through the agent's sink into the
// local store, delivered (Close waits for the last batch), at the rate the
// pipeline sustains. The baseline,
// BenchmarkBaselineRawLinesToFile, writes the same raw lines to a file
// through a buffered writer: the floor of any store on this disk.
func BenchmarkSinkToLocalStore(b *testing.B) {
	lines := benchLines()
	dir := b.TempDir()
	p, err := Open(Config{Service: "agent", Dir: dir}, nil)
	if err != nil {
		b.Fatal(err)
	}
	sink := p.AgentSink()
	l := agent.LogLine{Function: "chatty", Project: "bench", ContainerID: "esb-bench-chatty-1a2b3c4d", Stream: "stdout"}
	var bytesIn int64
	for _, x := range lines {
		bytesIn += int64(len(x) + 1)
	}
	b.SetBytes(bytesIn / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Text = lines[i%len(lines)]
		l.Time = time.Now()
		sink.WriteLine(l)
		// A writer far faster than any store would only measure the disk
		// buffer: keep at most 20,000 lines (one burst) ahead of delivery.
		if i%1000 == 999 {
			for uint64(i+1)-p.Stats().Delivered > 20000 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	p.Close()
	b.StopTimer()
	if s := p.Stats(); s.Dropped != 0 || s.Delivered != uint64(b.N) {
		b.Fatalf("stats %+v after %d lines", s, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkBaselineRawLinesToFile(b *testing.B) {
	lines := benchLines()
	f, err := os.Create(filepath.Join(b.TempDir(), "raw.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var bytesIn int64
	for _, x := range lines {
		bytesIn += int64(len(x) + 1)
	}
	b.SetBytes(bytesIn / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Write(lines[i%len(lines)])
		w.WriteByte('\n')
	}
	w.Flush()
	f.Close()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkSlogToLocalStore: a daemon's slog records (stderr discarded)
// into the local store; baseline BenchmarkBaselineSlogJSON is slog's JSON
// handler alone.
func BenchmarkSlogToLocalStore(b *testing.B) {
	logger, p, err := Setup(Config{Service: "gateway", Dir: b.TempDir()}, slog.NewJSONHandler(io.Discard, nil))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		logger.Info("worker started", "component", "pool", "function", "chatty", "container", "esb-bench-chatty-1a2b3c4d", "ms", 412)
	}
	p.Close()
}

func BenchmarkBaselineSlogJSON(b *testing.B) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		logger.Info("worker started", "component", "pool", "function", "chatty", "container", "esb-bench-chatty-1a2b3c4d", "ms", 412)
	}
}

// BenchmarkEncodeRecord is the encoder alone (one esb-rie line → record).
func BenchmarkEncodeRecord(b *testing.B) {
	lines := benchLines()
	var e encoder
	src := funcSource()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf, _ = e.appendRecord(buf[:0], src, lines[1+i%100])
	}
}
