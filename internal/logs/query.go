package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Query selects records; the same filters apply to the local store and to
// VictoriaLogs (as LogsQL).
type Query struct {
	// Names are services or functions: a record matches when its service
	// or its function is one of them. Empty: every record.
	Names []string
	// Since keeps records at or after it (zero: all).
	Since time.Time
	// Tail keeps the last Tail records (0: all).
	Tail int
	// RequestID and TraceID keep the records of one invoke or one trace
	// (a trace header or its Root; records match on their trace_root).
	RequestID, TraceID string
	// Level keeps records at this level or above ("" all).
	Level string
}

// Match reports whether e passes the query's filters (Tail aside).
func (q *Query) Match(e *Entry) bool {
	if !q.Since.IsZero() && e.Time.Before(q.Since) {
		return false
	}
	if len(q.Names) > 0 {
		svc, fn := e.Get(FieldService), e.Get(FieldFunction)
		if !slices.Contains(q.Names, svc) && (fn == "" || !slices.Contains(q.Names, fn)) {
			return false
		}
	}
	if q.RequestID != "" && e.Get(FieldRequestID) != q.RequestID {
		return false
	}
	if q.TraceID != "" && e.Get(FieldTraceRoot) != q.traceRoot() {
		return false
	}
	if q.Level != "" && LevelRank(e.Get(FieldLevel)) < LevelRank(normalLevel([]byte(q.Level))) {
		return false
	}
	return true
}

func (q *Query) traceRoot() string {
	if r := TraceRoot(q.TraceID); r != "" {
		return r
	}
	return q.TraceID
}

// quick rejects a stored line that cannot match before it is parsed.
func (q *Query) quick(line []byte) bool {
	if q.RequestID != "" && !bytes.Contains(line, []byte(q.RequestID)) {
		return false
	}
	if q.TraceID != "" && !bytes.Contains(line, []byte(q.traceRoot())) {
		return false
	}
	return true
}

// LogsQL is the query's filters in VictoriaLogs' query language (the time
// and the tail go as request arguments).
func (q *Query) LogsQL() string {
	var parts []string
	if len(q.Names) > 0 {
		list := quoteList(q.Names)
		parts = append(parts, "("+FieldService+":in("+list+") or "+FieldFunction+":in("+list+"))")
	}
	if q.RequestID != "" {
		parts = append(parts, FieldRequestID+":="+strconv.Quote(q.RequestID))
	}
	if q.TraceID != "" {
		parts = append(parts, FieldTraceRoot+":="+strconv.Quote(q.traceRoot()))
	}
	if q.Level != "" {
		min := LevelRank(normalLevel([]byte(q.Level)))
		var below, atOrAbove []string
		for lv, r := range levelRank {
			if r < min {
				below = append(below, lv)
			} else {
				atOrAbove = append(atOrAbove, lv)
			}
		}
		sort.Strings(below)
		sort.Strings(atOrAbove)
		switch {
		case min <= LevelRank("info") && len(below) > 0:
			// Unknown levels count as info: exclude what is below.
			parts = append(parts, "-"+FieldLevel+":in("+quoteList(below)+")")
		case min > LevelRank("info"):
			parts = append(parts, FieldLevel+":in("+quoteList(atOrAbove)+")")
		}
	}
	if len(parts) == 0 {
		return "*"
	}
	return strings.Join(parts, " ")
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ",")
}

// Source is where a query looks: a project's log directory (its local
// store, and the VictoriaLogs its daemons recorded there) and/or a
// VictoriaLogs URL.
type Source struct {
	// LogDir is <state>/logs ("" none).
	LogDir string
	// VictoriaLogsURL, when set, is queried; otherwise the URLs the
	// daemons recorded in LogDir are.
	VictoriaLogsURL string
}

// Reader runs queries over a Source. Warnings (a VictoriaLogs that does not
// answer, unreadable files) go to Warn.
type Reader struct {
	Source Source
	// Warn receives one line per problem that did not stop the query.
	Warn func(msg string)
	// PollInterval is how often Follow looks for new local records.
	PollInterval time.Duration

	offsets map[string]int64 // local files: bytes read so far
	vlDown  bool             // a VictoriaLogs did not answer: read the disk buffers too
}

func (r *Reader) warn(format string, args ...any) {
	if r.Warn != nil {
		r.Warn(fmt.Sprintf(format, args...))
	}
}

// victoriaLogsURLs returns the VictoriaLogs to query.
func (r *Reader) victoriaLogsURLs() []string {
	if r.Source.VictoriaLogsURL != "" {
		return []string{r.Source.VictoriaLogsURL}
	}
	if r.Source.LogDir == "" {
		return nil
	}
	var urls []string
	dirs, _ := filepath.Glob(filepath.Join(r.Source.LogDir, "*", "store", markerFile))
	for _, m := range dirs {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		if u := strings.TrimSpace(string(b)); u != "" && !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls
}

// Read returns the records q selects, oldest first.
func (r *Reader) Read(ctx context.Context, q Query) ([]Entry, error) {
	if r.offsets == nil {
		r.offsets = map[string]int64{}
	}
	var all []Entry
	var vlErrs []error
	for _, u := range r.victoriaLogsURLs() {
		vl, err := newVictoriaLogs(u)
		if err != nil {
			return nil, err
		}
		if err := vl.health(ctx); err != nil {
			r.vlDown = true
			r.warn("%v; showing the local store and the lines waiting for it", err)
			continue
		}
		logsql := q.LogsQL()
		if q.Tail <= 0 {
			logsql += " | sort by (" + FieldTime + ")"
		}
		err = vl.query(ctx, logsql, q.Tail, q.Since, func(line []byte) error {
			if e, ok := parseEntry(line); ok && q.Match(&e) {
				all = append(all, e)
			}
			return nil
		})
		if err != nil {
			vlErrs = append(vlErrs, err)
		}
		vl.close()
	}
	if len(vlErrs) > 0 {
		return nil, errors.Join(vlErrs...)
	}
	local, err := r.readLocal(q)
	if err != nil {
		return nil, err
	}
	all = append(all, local...)
	sortEntries(all)
	if q.Tail > 0 && len(all) > q.Tail {
		all = all[len(all)-q.Tail:]
	}
	return all, nil
}

// SkipToEnd makes Follow start after what the local store holds now,
// without reading it.
func (r *Reader) SkipToEnd() {
	if r.offsets == nil {
		r.offsets = map[string]int64{}
	}
	for _, dir := range r.localDirs() {
		files, _ := storeFiles(dir)
		for _, f := range files {
			r.offsets[f.path] = f.size
		}
	}
}

// localDirs lists the store directories (and, while a VictoriaLogs does
// not answer, the disk buffers) under the log directory.
func (r *Reader) localDirs() []string {
	if r.Source.LogDir == "" {
		return nil
	}
	dirs, _ := filepath.Glob(filepath.Join(r.Source.LogDir, "*", "store"))
	if r.vlDown {
		buf, _ := filepath.Glob(filepath.Join(r.Source.LogDir, "*", "buffer"))
		dirs = append(dirs, buf...)
	}
	sort.Strings(dirs)
	return dirs
}

// readLocal reads the local store. With a tail, each directory is read
// from its newest file back until it gave enough records.
func (r *Reader) readLocal(q Query) ([]Entry, error) {
	var all []Entry
	for _, dir := range r.localDirs() {
		files, err := storeFiles(dir)
		if err != nil {
			continue
		}
		var fromDir []Entry
		for i := len(files) - 1; i >= 0; i-- {
			f := files[i]
			if q.Tail > 0 && len(fromDir) >= q.Tail || (!q.Since.IsZero() && f.mtime.Before(q.Since)) {
				r.offsets[f.path] = f.size // not shown, but followed from its end
				continue
			}
			got, n, err := readFileFrom(f.path, 0, &q)
			if err != nil {
				r.warn("read %s: %v", f.path, err)
				continue
			}
			r.offsets[f.path] = n
			fromDir = append(got, fromDir...)
		}
		all = append(all, fromDir...)
	}
	return all, nil
}

// readFileFrom reads whole lines of a file from offset and returns the
// matching entries and the offset after the last whole line.
func readFileFrom(path string, offset int64, q *Query) ([]Entry, int64, error) {
	if strings.HasSuffix(path, segmentSuffix) {
		return readSegmentFrom(path, offset, q)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, offset, err
	}
	defer f.Close()
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return nil, offset, err
		}
	}
	br := bufio.NewReaderSize(f, 256<<10)
	var out []Entry
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A record over the buffer: read it whole.
			rest, err2 := br.ReadBytes('\n')
			line = append(append([]byte(nil), line...), rest...)
			err = err2
		}
		if err != nil {
			// An unterminated last line is being written: leave it.
			return out, offset, nil
		}
		offset += int64(len(line))
		body := line[:len(line)-1]
		if !q.quick(body) {
			continue
		}
		if e, ok := parseEntry(body); ok && q.Match(&e) {
			out = append(out, e)
		}
	}
}

// Follow calls fn with every new record q selects, as it arrives, until
// ctx ends. Call it after Read, which sets where following starts.
func (r *Reader) Follow(ctx context.Context, q Query, since time.Time, fn func(*Entry)) error {
	if r.offsets == nil {
		r.offsets = map[string]int64{}
	}
	q.Tail = 0
	var mu sync.Mutex
	emit := func(es []Entry) {
		mu.Lock()
		defer mu.Unlock()
		for i := range es {
			fn(&es[i])
		}
	}
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for _, u := range r.victoriaLogsURLs() {
		vl, err := newVictoriaLogs(u)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer vl.close()
			errc <- r.followVictoriaLogs(ctx, vl, q, since, emit)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.followLocal(ctx, q, emit)
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// followLocal polls the store directories for new records.
func (r *Reader) followLocal(ctx context.Context, q Query, emit func([]Entry)) {
	every := r.PollInterval
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	// Each service's pipeline flushes on its own; lines are held back a
	// moment so lines of several services still come out in time order.
	holdBack := 2 * every
	if holdBack < 500*time.Millisecond {
		holdBack = 500 * time.Millisecond
	}
	var pending []Entry
	for {
		select {
		case <-ctx.Done():
			if len(pending) > 0 {
				emit(pending)
			}
			return
		case <-t.C:
		}
		var batch []Entry
		seen := map[string]bool{}
		for _, dir := range r.localDirs() {
			files, err := storeFiles(dir)
			if err != nil {
				continue
			}
			for _, f := range files {
				seen[f.path] = true
				off, known := r.offsets[f.path]
				if known && f.size <= off {
					continue
				}
				got, n, err := readFileFrom(f.path, off, &q)
				if err != nil {
					continue
				}
				r.offsets[f.path] = n
				batch = append(batch, got...)
			}
		}
		for p := range r.offsets {
			if !seen[p] {
				delete(r.offsets, p) // rotated away
			}
		}
		pending = append(pending, batch...)
		sortEntries(pending)
		cut := time.Now().Add(-holdBack)
		n := 0
		for n < len(pending) && pending[n].Time.Before(cut) {
			n++
		}
		if n > 0 {
			emit(pending[:n])
			pending = append(pending[:0:0], pending[n:]...)
		}
	}
}

// followVictoriaLogs tails a VictoriaLogs from since (records at or
// before it were shown by Read), reconnecting when it goes away.
func (r *Reader) followVictoriaLogs(ctx context.Context, vl *victoriaLogs, q Query, since time.Time, emit func([]Entry)) error {
	last := since
	seenAtLast := map[string]bool{}
	for ctx.Err() == nil {
		offset := time.Duration(0)
		if !last.IsZero() {
			offset = time.Since(last) + 2*time.Second
		}
		err := vl.tail(ctx, q.LogsQL(), offset, func(line []byte) error {
			e, ok := parseEntry(line)
			if !ok || !q.Match(&e) || e.Time.Before(last) || (!since.IsZero() && !e.Time.After(since)) {
				return nil // Read showed it
			}
			key := string(line)
			if e.Time.Equal(last) {
				if seenAtLast[key] {
					return nil
				}
			} else {
				last = e.Time
				clear(seenAtLast)
			}
			seenAtLast[key] = true
			emit([]Entry{e})
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.warn("%v; retrying", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// sortEntries orders entries by time, keeping the order of equal times.
func sortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Time.Before(es[j].Time) })
}

// readSegmentFrom reads the whole entries of a disk buffer segment from
// offset, as the records they will become.
func readSegmentFrom(path string, offset int64, q *Query) ([]Entry, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil || int64(len(data)) < offset {
		return nil, offset, err
	}
	raw := data[offset:]
	var enc encoder
	var s source
	var rec []byte
	var out []Entry
	for len(raw) > 0 {
		line, rest, ok := nextRaw(raw, &s)
		if !ok {
			break
		}
		offset += int64(len(raw) - len(rest))
		raw = rest
		rec, _ = enc.appendRecord(rec[:0], &s, line)
		body := rec[:len(rec)-1]
		if !q.quick(body) {
			continue
		}
		if e, ok := parseEntry(body); ok && q.Match(&e) {
			out = append(out, e)
		}
	}
	return out, offset, nil
}
