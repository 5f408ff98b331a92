package rie

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/edgeserverlessbox/esb/internal/jsonx"
)

// newRequestID returns a random (version 4) UUID.
func newRequestID() string {
	var b [36]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	hi = hi&^(0xf<<12) | 4<<12   // version 4
	lo = lo&^(0x3<<62) | 0x2<<62 // RFC 4122 variant
	putHex(b[0:8], hi>>32, 8)
	b[8] = '-'
	putHex(b[9:13], hi>>16, 4)
	b[13] = '-'
	putHex(b[14:18], hi, 4)
	b[18] = '-'
	putHex(b[19:23], lo>>48, 4)
	b[23] = '-'
	putHex(b[24:36], lo, 12)
	return string(b[:])
}

// newTraceID returns an X-Ray trace header for an invoke that came without
// one, as Lambda forwards one to every invoke (not sampled).
func newTraceID(now time.Time) string {
	var b [len("Root=1-12345678-123456789012345678901234;Parent=1234567890123456;Sampled=0")]byte
	n := copy(b[:], "Root=1-")
	putHex(b[n:n+8], uint64(now.Unix()), 8)
	n += 8
	b[n] = '-'
	n++
	putHex(b[n:n+8], rand.Uint64(), 8)
	putHex(b[n+8:n+24], rand.Uint64(), 16)
	n += 24
	n += copy(b[n:], ";Parent=")
	putHex(b[n:n+16], rand.Uint64(), 16)
	n += 16
	n += copy(b[n:], ";Sampled=0")
	return string(b[:n])
}

// putHex writes the low digits hex digits of v into dst.
func putHex(dst []byte, v uint64, digits int) {
	for i := digits - 1; i >= 0; i-- {
		dst[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

// logStreamName returns an AWS-shaped log stream name:
// YYYY/MM/DD/[$LATEST]<32 hex>.
func logStreamName(now time.Time, version string) string {
	var h [32]byte
	putHex(h[:16], rand.Uint64(), 16)
	putHex(h[16:], rand.Uint64(), 16)
	return now.UTC().Format("2006/01/02") + "/[" + version + "]" + string(h[:])
}

// platformErrorBody is the JSON error a caller gets for a failure the
// platform (not the function) detected: {"errorType":..., "errorMessage":
// "RequestId: <id> Error: <message>"}.
func platformErrorBody(errorType, requestID, message string) []byte {
	b := make([]byte, 0, 64+len(errorType)+len(requestID)+len(message))
	b = append(b, `{"errorType":`...)
	b = jsonx.AppendString(b, errorType)
	b = append(b, `,"errorMessage":`...)
	b = jsonx.AppendString(b, "RequestId: "+requestID+" Error: "+message)
	return append(b, '}')
}

// oversizeBody is the caller's error for a response over the limit.
func oversizeBody(size int64) []byte {
	return []byte(`{"errorType":"Function.ResponseSizeTooLarge","errorMessage":"Response payload size (` +
		strconv.FormatInt(size, 10) + ` bytes) exceeded maximum allowed payload size (` +
		strconv.Itoa(MaxResponseBytes) + ` bytes)."}`)
}

// timedOutMessage is AWS's wording, with the limit in seconds to two
// decimals.
func timedOutMessage(limit time.Duration) string {
	return "Task timed out after " + strconv.FormatFloat(limit.Seconds(), 'f', 2, 64) + " seconds"
}

// exitMessage describes a runtime that exited, as AWS does.
func exitMessage(reason string) string {
	if reason == "" || reason == "exit status 0" {
		return "Runtime exited without providing a reason"
	}
	return "Runtime exited with error: " + reason
}
