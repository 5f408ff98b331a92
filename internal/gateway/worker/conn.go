package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

const (
	// readBufferSize is the per-connection read buffer: status line and
	// headers fit (a longer header line is assembled in conn.line).
	readBufferSize = 4 << 10
	// inlinePayload: payloads up to this size are copied behind the request
	// head and sent with one write; larger ones go out with writev.
	inlinePayload = 4 << 10
	// maxHeaderBytes bounds the status line and headers of a response.
	maxHeaderBytes = 1 << 20
	// maxErrorBody bounds the body read from a non-200 answer.
	maxErrorBody = 64 << 10
	// maxChunkLine bounds one chunk-size line (with extensions), as net/http does.
	maxChunkLine = 4 << 10
	// maxKeptLine is the largest long-line buffer a connection keeps.
	maxKeptLine = 64 << 10
)

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked read or write.
var aLongTimeAgo = time.Unix(1, 0)

var (
	errMalformed  = fmt.Errorf("%w: malformed HTTP response", ErrProtocol)
	errTooLarge   = fmt.Errorf("%w: response is too large", ErrProtocol)
	errHeaderSize = fmt.Errorf("%w: response headers or a chunk-size line too long", ErrProtocol)
)

// conn is one keep-alive connection to a worker, used by one invoke at a time.
type conn struct {
	nc   net.Conn
	br   *bufio.Reader
	wbuf []byte
	vec  [2][]byte
	line []byte // a header line longer than the read buffer
	// expire is cn.setExpired as a func value, made once: context.AfterFunc
	// takes it on every invoke.
	expire    func()
	idleSince int64
	peek      peeker
}

func newConn(nc net.Conn) *conn {
	cn := &conn{nc: nc, br: bufio.NewReaderSize(nc, readBufferSize)}
	cn.expire = cn.setExpired
	cn.peek.init(nc)
	return cn
}

func (cn *conn) setExpired() { _ = cn.nc.SetDeadline(aLongTimeAgo) }

func (cn *conn) close() { _ = cn.nc.Close() }

// alive reports whether an idle connection can carry another request: the
// worker has not closed it and sent nothing unasked.
func (cn *conn) alive() bool { return cn.peek.quiet() }

// response is what the client needs of an HTTP response head.
type response struct {
	status        int
	contentLength int64 // -1: not given
	chunked       bool
	close         bool // the connection cannot be reused after this response
}

// roundTrip writes the request and reads the answer. reuse tells whether
// the connection can carry another request. ctx ending wakes a blocked
// read or write through a deadline in the past.
func (cn *conn) roundTrip(ctx context.Context, head []byte, inv *Invocation) (res *Result, reuse bool, err error) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, cn.expire)
		defer func() {
			if !stop() {
				// ctx ended: the deadline may be (or be about to be) in
				// the past. A complete answer is still good.
				reuse = false
			}
		}()
	}
	werr := cn.writeRequest(head, inv)
	res = getResult()
	rs, err := cn.readResponse(res)
	if cap(cn.line) > maxKeptLine {
		cn.line = nil
	}
	switch {
	case werr != nil && err == nil && rs.status != 200:
		// The worker answered before reading the whole request (busy):
		// its answer says more than the write error.
	case werr != nil:
		res.Release()
		return nil, false, fmt.Errorf("write request: %w", werr)
	case err != nil:
		res.Release()
		return nil, false, fmt.Errorf("read response: %w", err)
	}
	if rs.status != 200 {
		err := fmt.Errorf("%w: worker answered %d: %.200s", ErrProtocol, rs.status, res.Body)
		res.Release()
		return nil, false, err
	}
	// Bytes beyond the answer mean the stream is out of step.
	return res, !rs.close && werr == nil && cn.br.Buffered() == 0, nil
}

// writeRequest sends the request head and payload with one system call
// (large payloads with writev; two writes in race builds).
func (cn *conn) writeRequest(head []byte, inv *Invocation) error {
	b := appendRequest(cn.wbuf[:0], head, inv)
	var err error
	switch {
	case len(inv.Payload) <= inlinePayload:
		b = append(b, inv.Payload...)
		_, err = cn.nc.Write(b)
	case raceEnabled:
		if _, err = cn.nc.Write(b); err == nil {
			_, err = cn.nc.Write(inv.Payload)
		}
	default:
		cn.vec[0], cn.vec[1] = b, inv.Payload
		bufs := net.Buffers(cn.vec[:])
		_, err = bufs.WriteTo(cn.nc)
		// Keep no reference to the caller's payload.
		cn.vec[0], cn.vec[1] = nil, nil
	}
	cn.wbuf = b
	return err
}

// readLine returns the next line without its CRLF. The slice is valid until
// the next read.
func (cn *conn) readLine(budget *int) ([]byte, error) {
	line, err := cn.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		cn.line = append(cn.line[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(cn.line) > *budget {
				return nil, errHeaderSize
			}
			line, err = cn.br.ReadSlice('\n')
			cn.line = append(cn.line, line...)
		}
		line = cn.line
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if *budget -= len(line); *budget < 0 {
		return nil, errHeaderSize
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readResponse reads one response (skipping informational ones) into res:
// the headers of the worker protocol and the body.
func (cn *conn) readResponse(res *Result) (response, error) {
	budget := maxHeaderBytes
	for {
		rs, err := cn.readHead(res, &budget)
		if err != nil {
			return rs, err
		}
		if rs.status >= 100 && rs.status < 200 {
			if rs.status == 101 {
				return rs, fmt.Errorf("%w: unexpected 101 Switching Protocols", ErrProtocol)
			}
			continue
		}
		limit := int64(MaxResponse)
		if rs.status != 200 {
			limit = maxErrorBody
		}
		if rs.status == 204 || rs.status == 304 {
			return rs, nil
		}
		switch {
		case rs.chunked:
			res.Body, err = cn.readChunked(res.Body[:0], limit, &budget)
		case rs.contentLength >= 0:
			res.Body, err = cn.readFixed(res.Body[:0], rs.contentLength, limit)
		default:
			// Delimited by the end of the connection.
			rs.close = true
			res.Body, err = cn.readToEOF(res.Body[:0], limit)
		}
		return rs, err
	}
}

// readHead reads the status line and headers.
func (cn *conn) readHead(res *Result, budget *int) (response, error) {
	rs := response{contentLength: -1}
	line, err := cn.readLine(budget)
	if err != nil {
		return rs, err
	}
	// HTTP/1.x NNN[ reason]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
		line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return rs, fmt.Errorf("%w: status line %.60q", errMalformed, line)
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return rs, fmt.Errorf("%w: status line %.60q", errMalformed, line)
		}
		rs.status = rs.status*10 + int(c-'0')
	}
	http10 := line[7] == '0'
	keepAlive := false
	*res = Result{Body: res.Body}
	for {
		line, err := cn.readLine(budget)
		if err != nil {
			return rs, err
		}
		if len(line) == 0 {
			break
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
			if c == ' ' || c == '\t' || c < ' ' {
				break
			}
		}
		if colon <= 0 {
			return rs, fmt.Errorf("%w: header line %.60q", errMalformed, line)
		}
		name, v := line[:colon], trimOWS(line[colon+1:])
		switch len(name) {
		case len("content-length"):
			if equalFold(name, "content-length") {
				n, ok := parseLength(v)
				if !ok || (rs.contentLength >= 0 && rs.contentLength != n) {
					return rs, fmt.Errorf("%w: Content-Length %.30q", errMalformed, v)
				}
				rs.contentLength = n
			}
		case len("transfer-encoding"): // also len(HeaderDuration)
			if equalFold(name, "x-esb-duration-ms") {
				res.Duration = string(v)
			} else if equalFold(name, "transfer-encoding") {
				if !equalFold(v, "chunked") {
					return rs, fmt.Errorf("%w: unsupported Transfer-Encoding %.30q", ErrProtocol, v)
				}
				rs.chunked = true
			}
		case len("connection"):
			if equalFold(name, "connection") {
				forEachToken(v, func(t []byte) {
					if equalFold(t, "close") {
						rs.close = true
					} else if equalFold(t, "keep-alive") {
						keepAlive = true
					}
				})
			}
		case len(HeaderFunctionError):
			if equalFold(name, "x-amz-function-error") {
				res.FunctionError = internValue(v)
			}
		case len(HeaderErrorKind): // also len(HeaderLogResult)
			if equalFold(name, "x-esb-error-kind") {
				res.ErrorKind = internValue(v)
			} else if equalFold(name, "x-amz-log-result") {
				res.LogResult = string(v)
			}
		case len(HeaderInitDuration):
			if equalFold(name, "x-esb-init-duration-ms") {
				res.InitDuration = string(v)
			}
		}
	}
	if http10 && !keepAlive {
		rs.close = true
	}
	if rs.chunked && rs.contentLength >= 0 {
		// RFC 9112 6.3: Transfer-Encoding wins, and the connection must close.
		rs.contentLength = -1
		rs.close = true
	}
	return rs, nil
}

// readFixed reads a body of n bytes.
func (cn *conn) readFixed(dst []byte, n, limit int64) ([]byte, error) {
	if n > limit {
		return dst, fmt.Errorf("%w (%d bytes)", errTooLarge, n)
	}
	if int64(cap(dst)) < n {
		dst = make([]byte, 0, n)
	}
	dst = dst[:n]
	if _, err := io.ReadFull(cn.br, dst); err != nil {
		return dst[:0], eofUnexpected(err)
	}
	return dst, nil
}

// readToEOF reads a body that ends with the connection.
func (cn *conn) readToEOF(dst []byte, limit int64) ([]byte, error) {
	for {
		if int64(len(dst)) >= limit {
			// One more byte tells a body of exactly limit bytes from a larger one.
			if _, err := cn.br.ReadByte(); err == io.EOF {
				return dst, nil
			} else if err != nil {
				return dst, err
			}
			return dst, errTooLarge
		}
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		// Never past limit: a zero-length read would return (0, nil) forever.
		end := min(int64(cap(dst)), limit)
		n, err := cn.br.Read(dst[len(dst):end])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// readChunked reads a chunked body and its trailer. Each chunk-size line is
// bounded on its own (the body limit bounds their number); trailer fields
// share the header budget.
func (cn *conn) readChunked(dst []byte, limit int64, budget *int) ([]byte, error) {
	for {
		lineBudget := maxChunkLine
		line, err := cn.readLine(&lineBudget)
		if err != nil {
			return dst, eofUnexpected(err)
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return dst, fmt.Errorf("%w: chunk size %.30q", errMalformed, line)
		}
		if size == 0 {
			break
		}
		if int64(len(dst))+size > limit {
			return dst, errTooLarge
		}
		if free := int64(cap(dst) - len(dst)); free < size {
			grown := make([]byte, len(dst), max(int64(len(dst))+size, min(2*int64(cap(dst)), limit)))
			copy(grown, dst)
			dst = grown
		}
		end := len(dst) + int(size)
		if _, err := io.ReadFull(cn.br, dst[len(dst):end]); err != nil {
			return dst, eofUnexpected(err)
		}
		dst = dst[:end]
		lineBudget = 2
		if line, err := cn.readLine(&lineBudget); err != nil {
			return dst, eofUnexpected(err)
		} else if len(line) != 0 {
			return dst, fmt.Errorf("%w: no CRLF after a chunk", errMalformed)
		}
	}
	// Trailer fields, up to an empty line.
	for {
		line, err := cn.readLine(budget)
		if err != nil {
			return dst, eofUnexpected(err)
		}
		if len(line) == 0 {
			return dst, nil
		}
	}
}

func eofUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseLength parses a Content-Length value.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseChunkSize parses "hex[;ext]".
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	digits := 0
	for i, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		case c == ';' || c == ' ' || c == '\t':
			return n, digits > 0 && validExtension(line[i:])
		default:
			return 0, false
		}
		if digits++; digits > 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, digits > 0
}

func validExtension(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// trimOWS trims spaces and tabs around a header value.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lower-case ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// forEachToken calls f with each comma-separated token of v.
func forEachToken(v []byte, f func([]byte)) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		if t := trimOWS(v[:i]); len(t) > 0 {
			f(t)
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

// internValue returns the protocol's constant header values without
// allocating.
func internValue(v []byte) string {
	switch string(v) {
	case "Unhandled":
		return "Unhandled"
	case KindFunction:
		return KindFunction
	case KindTimeout:
		return KindTimeout
	case KindExit:
		return KindExit
	case KindInit:
		return KindInit
	case KindOversize:
		return KindOversize
	}
	return string(v)
}
