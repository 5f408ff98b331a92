package logs

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// store takes batches of records (JSON lines): VictoriaLogs or the local
// store. send is called from one goroutine at a time.
type store interface {
	send(ctx context.Context, batch []byte) error
	// name is "victorialogs" or "local" (metrics, messages).
	name() string
	close() error
}

// Stats are a pipeline's counters since it started.
type Stats struct {
	// Lines is every record handed to the pipeline.
	Lines uint64
	// Delivered is every record the store took.
	Delivered uint64
	// Dropped is every record lost: the disk buffer's limit was reached, or
	// (without a disk buffer) the memory buffer's.
	Dropped uint64
	// BufferedBytes is what waits in the disk buffer now.
	BufferedBytes int64
	// StoreErrors counts failed deliveries (each is retried).
	StoreErrors uint64
}

// queue collects records in memory and hands them to a store from one
// goroutine. Writers never wait for the store: past the memory limit,
// records spill to the disk buffer (in order), and past its limit the oldest
// buffered records are dropped and counted.
type queue struct {
	mu       sync.Mutex
	raw      []byte // entries not yet taken, in order (raw.go)
	rawLines int
	spareRaw []byte // the raw buffer of the last batch, for reuse

	// encMu guards the encoder and the per-container state; it is taken
	// after mu (a spill), or alone (the shipper encoding a batch).
	encMu sync.Mutex
	enc   encoder
	// last is each container's latest record (per-container order, see
	// source.after); swept of idle containers now and then.
	last   map[string]*lastRecord
	batch  []byte // records being sent (shipper goroutine only)
	segBuf []byte // a disk buffer segment being read (shipper goroutine only)

	spool *spool // nil: no disk buffer (the local store needs none)
	// spooling: records go to the spool, not raw, until it is empty again,
	// so they stay in order behind what waits there.
	spooling bool

	cfg    queueConfig
	st     store
	log    *slog.Logger
	wake   chan struct{}
	closed chan struct{}
	done   chan struct{}

	lines_, delivered, dropped, storeErrors atomic.Uint64
	spoolBytes                              atomic.Int64
	droppedReported                         uint64 // shipper goroutine only
	spoolErr                                error  // the last disk buffer error, reported by the shipper
}

// lastRecord is a container's latest record: its time, and when it was
// added (by the clock of this process, for sweeping).
type lastRecord struct {
	time, added time.Time
	head        []byte // the container's encoded source fields
}

type queueConfig struct {
	memBytes      int
	batchBytes    int
	flushInterval time.Duration
	closeTimeout  time.Duration
	retryMin      time.Duration
	retryMax      time.Duration
	onTick        func() // called from the shipper now and then (metrics file)
}

// newQueue makes a queue; start starts its shipper.
func newQueue(cfg queueConfig, st store, sp *spool) *queue {
	q := &queue{cfg: cfg, st: st, spool: sp,
		raw: make([]byte, 0, 64<<10), last: map[string]*lastRecord{},
		wake: make(chan struct{}, 1), closed: make(chan struct{}), done: make(chan struct{})}
	if sp != nil {
		q.spooling = !sp.empty()
		q.spoolBytes.Store(sp.size)
	}
	return q
}

// start starts the shipper; log gets the queue's warnings.
func (q *queue) start(log *slog.Logger) {
	q.log = log
	go q.ship()
}

// add takes one line. It copies it and returns; it never waits for the
// store (nor for encoding, which the shipper does).
func (q *queue) add(r *rawSource, line []byte) {
	q.mu.Lock()
	q.raw = appendRaw(q.raw, r, line)
	q.rawLines++
	q.lines_.Add(1)
	n := len(q.raw)
	if n >= q.cfg.memBytes {
		q.spillLocked()
	}
	q.mu.Unlock()
	if n >= q.cfg.batchBytes {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// encodeRaw appends the records of raw entries to dst. The caller holds
// encMu.
func (q *queue) encodeRaw(dst, raw []byte) []byte {
	var s source
	for len(raw) > 0 {
		var line []byte
		var ok bool
		if line, raw, ok = nextRaw(raw, &s); !ok {
			break // the rest of a segment a crash cut short
		}
		var last *lastRecord
		if len(s.containerID) > 0 {
			last = q.last[string(s.containerID)] // no allocation for the lookup
			if last == nil {
				last = &lastRecord{head: appendSourceFields(nil, &s)}
				q.last[string(s.containerID)] = last
			}
			s.after, s.head = last.time, last.head
		}
		var t time.Time
		dst, t = q.enc.appendRecord(dst, &s, line)
		if last != nil {
			last.time, last.added = t, s.read
		}
	}
	return dst
}

// shrink lets go of buffers a burst grew once the queue is quiet again, so
// an idle daemon does not keep megabytes it needed for a moment.
func (q *queue) shrink() {
	const small = 256 << 10
	if cap(q.batch) > small {
		q.batch = nil // shipper goroutine only
	}
	if cap(q.segBuf) > small {
		q.segBuf = nil
	}
	q.mu.Lock()
	if q.rawLines == 0 && !q.spooling {
		if cap(q.spareRaw) > small {
			q.spareRaw = nil
		}
		if cap(q.raw) > small {
			q.raw = make([]byte, 0, 64<<10)
		}
	}
	q.mu.Unlock()
}

// keepBytes is the largest buffer kept for reuse after a burst.
func (q *queue) keepBytes() int { return q.cfg.memBytes + q.cfg.memBytes/4 }

// spillLocked moves what waits in memory to the disk buffer (or drops it
// without one). The caller holds mu.
func (q *queue) spillLocked() {
	if q.rawLines == 0 {
		return
	}
	if q.spool == nil {
		q.dropped.Add(uint64(q.rawLines))
	} else {
		// Raw entries go to disk as they are: a spill costs one write, and
		// the writer waiting for the mutex meanwhile is not kept long.
		dropped, err := q.spool.append(q.raw, q.rawLines)
		if dropped > 0 {
			q.dropped.Add(uint64(dropped))
		}
		if err != nil {
			q.spoolErr = err
		}
		q.spooling = true
		q.spoolBytes.Store(q.spool.size)
	}
	if cap(q.raw) > q.keepBytes() {
		q.raw = make([]byte, 0, 64<<10)
	} else {
		q.raw = q.raw[:0]
	}
	q.rawLines = 0
}

// ship delivers records until close: what the disk buffer holds first,
// oldest first, then the memory buffer.
func (q *queue) ship() {
	defer close(q.done)
	tick := time.NewTicker(q.cfg.flushInterval)
	defer tick.Stop()
	var lastSweep, lastReport time.Time
	backoff := time.Duration(0)
	var retryAt time.Time
	for {
		select {
		case <-tick.C:
		case <-q.wake:
		case <-q.closed:
			q.final()
			return
		}
		now := time.Now()
		if now.Before(retryAt) {
			// The store failed a moment ago: meanwhile keep what arrives on
			// disk (in order, behind what waits there).
			q.mu.Lock()
			if q.spooling {
				q.spillLocked()
			}
			q.mu.Unlock()
		} else if before := q.delivered.Load(); q.deliver(context.Background()) {
			backoff = 0
			if q.delivered.Load() == before { // an idle tick
				q.shrink()
			}
		} else {
			if backoff == 0 {
				backoff = q.cfg.retryMin
			} else if backoff *= 2; backoff > q.cfg.retryMax {
				backoff = q.cfg.retryMax
			}
			retryAt = time.Now().Add(backoff)
		}
		ok := backoff == 0
		if now.Sub(lastReport) >= 10*time.Second || (!ok && now.Sub(lastReport) >= time.Second) {
			lastReport = now
			q.report()
		}
		if now.Sub(lastSweep) > time.Minute {
			lastSweep = now
			q.sweep(now)
		}
	}
}

// deliver sends what waits; false when the store failed (retry later).
func (q *queue) deliver(ctx context.Context) bool {
	for {
		q.mu.Lock()
		if q.spool != nil && q.spooling {
			if q.spool.empty() {
				q.spooling = false
			} else {
				// Keep the order: memory goes behind what is on disk.
				q.spillLocked()
				seq, _ := q.spool.oldest()
				q.mu.Unlock()
				data, err := q.spool.readSegment(seq, q.segBuf[:0])
				if cap(data) <= q.keepBytes() {
					q.segBuf = data
				}
				if errors.Is(err, fs.ErrNotExist) {
					err = errSegmentGone
				}
				var lines int
				if err == nil {
					lines = countRaw(data)
					q.encMu.Lock()
					q.batch = q.encodeRaw(q.batch[:0], data)
					q.encMu.Unlock()
					err = q.send(ctx, q.batch)
				}
				q.mu.Lock()
				if err != nil && !errors.Is(err, errSegmentGone) {
					if dropped := q.spool.failed(seq); dropped > 0 {
						q.dropped.Add(uint64(dropped))
					}
					q.spoolBytes.Store(q.spool.size)
					q.mu.Unlock()
					return false
				}
				q.spool.done(seq)
				q.spoolBytes.Store(q.spool.size)
				q.mu.Unlock()
				q.delivered.Add(uint64(lines))
				continue
			}
		}
		if q.rawLines == 0 {
			q.mu.Unlock()
			return true
		}
		raw, lines := q.raw, q.rawLines
		// Swap in the spare buffer: writers keep appending while the batch
		// is encoded and sent, and neither side allocates once both grew.
		q.raw, q.spareRaw, q.rawLines = q.spareRaw[:0], nil, 0
		if cap(q.raw) < len(raw) {
			q.raw = make([]byte, 0, len(raw)+len(raw)/4)
		}
		var seq uint64
		if q.spool != nil {
			seq = q.spool.reserve()
		}
		q.mu.Unlock()

		q.encMu.Lock()
		q.batch = q.encodeRaw(q.batch[:0], raw)
		q.encMu.Unlock()
		err := q.send(ctx, q.batch)
		q.mu.Lock()
		if err == nil {
			if q.spareRaw == nil && cap(raw) <= q.keepBytes() {
				q.spareRaw = raw[:0]
			}
			q.mu.Unlock()
			q.delivered.Add(uint64(lines))
			if cap(q.batch) > 2*q.keepBytes() {
				q.batch = nil
			}
			continue
		}
		if q.spool != nil {
			dropped, serr := q.spool.insert(seq, raw, lines)
			if dropped > 0 {
				q.dropped.Add(uint64(dropped))
			}
			if serr != nil {
				q.spoolErr = serr
			}
			q.spooling = true
			q.spoolBytes.Store(q.spool.size)
		} else {
			q.dropped.Add(uint64(lines))
		}
		q.mu.Unlock()
		return false
	}
}

var errSegmentGone = errors.New("buffer segment gone")

func (q *queue) send(ctx context.Context, batch []byte) error {
	err := q.st.send(ctx, batch)
	if err != nil {
		if q.storeErrors.Add(1) == 1 || q.storeErrors.Load()%100 == 0 {
			q.log.Warn("log store unavailable; lines wait in the buffer", "component", "logs", "store", q.st.name(), "err", err.Error())
		}
	}
	return err
}

// final delivers what is left within closeTimeout; what is not delivered
// stays in the disk buffer for the next start.
func (q *queue) final() {
	ctx, cancel := context.WithTimeout(context.Background(), q.cfg.closeTimeout)
	defer cancel()
	for ctx.Err() == nil {
		if q.deliver(ctx) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(q.cfg.retryMin):
		}
	}
	q.mu.Lock()
	q.spillLocked()
	if q.spool != nil {
		q.spool.close()
	}
	q.mu.Unlock()
	q.report()
}

// report logs newly dropped lines and disk buffer errors, and runs onTick.
// It is called without the mutex: the logger may feed this very queue.
func (q *queue) report() {
	q.mu.Lock()
	serr := q.spoolErr
	q.spoolErr = nil
	q.mu.Unlock()
	if serr != nil {
		q.log.Warn("log buffer: "+serr.Error(), "component", "logs")
	}
	if d := q.dropped.Load(); d > q.droppedReported {
		q.log.Warn("log lines dropped: the log buffer is full", "component", "logs",
			"dropped", d-q.droppedReported, "dropped_total", d, "store", q.st.name())
		q.droppedReported = d
	}
	if q.cfg.onTick != nil {
		q.cfg.onTick()
	}
}

// sweep forgets containers that wrote nothing for a minute.
func (q *queue) sweep(now time.Time) {
	q.encMu.Lock()
	for id, l := range q.last {
		if now.Sub(l.added) > time.Minute {
			delete(q.last, id)
		}
	}
	q.encMu.Unlock()
}

// close delivers what is left (within closeTimeout) and stops the shipper.
func (q *queue) close() {
	close(q.closed)
	<-q.done
}

func (q *queue) stats() Stats {
	return Stats{Lines: q.lines_.Load(), Delivered: q.delivered.Load(), Dropped: q.dropped.Load(),
		BufferedBytes: q.spoolBytes.Load(), StoreErrors: q.storeErrors.Load()}
}
