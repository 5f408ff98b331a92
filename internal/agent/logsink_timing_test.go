package agent

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// countSink counts lines; it stands for the log pipeline.
type countSink struct{ n int }

func (c *countSink) WriteLine(LogLine) { c.n++ }

// BenchmarkWorkerOutput measures splitting a worker's output into lines for
// the sink (4 KiB chunks as a pipe delivers them), next to bufio.Scanner
// splitting the same bytes (the baseline), in the same run:
//
//	go test -run '^$' -bench WorkerOutput ./internal/agent/
func BenchmarkWorkerOutput(b *testing.B) {
	line := `{"time":"2026-11-27T16:00:00.123456Z","type":"function","level":"info","function":"hello","request_id":"8a1b","message":"processed item 42"}` + "\n"
	data := []byte(strings.Repeat(line, 4096))
	chunks := make([][]byte, 0, len(data)/4096+1)
	for i := 0; i < len(data); i += 4096 {
		chunks = append(chunks, data[i:min(i+4096, len(data))])
	}
	b.Run("esb", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sink := &countSink{}
			w := newWorkerLog(sink, "hello", "demo")
			w.stopTail()
			out := w.output()
			for _, c := range chunks {
				out.Stdout.Write(c)
			}
			out.Stdout.Close()
		}
	})
	b.Run("baseline-bufio-scanner", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sink := &countSink{}
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				sink.WriteLine(LogLine{Text: sc.Bytes()})
			}
		}
	})
}
