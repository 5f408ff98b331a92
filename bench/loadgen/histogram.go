// Package loadgen drives load against a target and records latencies: closed-loop
// with N concurrent workers, or open-loop at a fixed rate with latencies measured
// from each request's intended start (free of coordinated omission).
package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBucketBits sets the histogram's precision: 2^7 = 128 linear sub-buckets per
// power of two, a relative error under 1 %.
const subBucketBits = 7

const (
	subBuckets = 1 << subBucketBits
	// maxExp covers values up to 2^40 ns (about 18 minutes).
	maxExp = 40 - subBucketBits + 1
)

// Histogram records durations in log-linear buckets (HDR style): constant memory,
// O(1) record, percentiles within 1 % of the exact value. The zero value is ready
// to use. It is not safe for concurrent use; give each worker its own and Merge.
type Histogram struct {
	counts [maxExp + 1][subBuckets]uint64
	n      uint64
	min    int64
	max    int64
	sum    float64
}

// bucket returns the (exponent, sub-bucket) of v nanoseconds.
func bucket(v int64) (int, int) {
	if v < subBuckets {
		return 0, int(v)
	}
	exp := bits.Len64(uint64(v)) - subBucketBits // >= 1
	if exp > maxExp {
		return maxExp, subBuckets - 1
	}
	return exp, int(uint64(v) >> (exp - 1) & (subBuckets - 1))
}

// value returns the upper bound in nanoseconds of bucket (exp, sub).
func value(exp, sub int) int64 {
	if exp == 0 {
		return int64(sub)
	}
	return (int64(sub|subBuckets) << (exp - 1)) + (1 << (exp - 1)) - 1
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	e, s := bucket(v)
	h.counts[e][s]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every observation of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for e := range o.counts {
		for s, c := range o.counts[e] {
			h.counts[e][s] += c
		}
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Min is the smallest observation.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest observation.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the average observation.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the observation at quantile q (0 ≤ q ≤ 1), within the
// histogram's precision, clamped to the observed min and max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for e := range h.counts {
		for s, c := range h.counts[e] {
			if c == 0 {
				continue
			}
			seen += c
			if seen >= rank {
				v := value(e, s)
				if v > h.max {
					v = h.max
				}
				if v < h.min {
					v = h.min
				}
				return time.Duration(v)
			}
		}
	}
	return time.Duration(h.max)
}
