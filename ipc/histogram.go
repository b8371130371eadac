package ipc

// DurationBuckets are the upper bounds, in seconds, of the request-duration
// histogram every worker keeps (Stats.Durations). They are fixed, so that
// the master can add the workers' histograms up.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Histogram is a request-duration histogram as Prometheus has it: Counts[i]
// is the number of requests that took at most DurationBuckets[i]
// (cumulative), Count all of them (the +Inf bucket), Sum their total
// seconds.
type Histogram struct {
	Counts []uint64 `json:"counts"`
	Count  uint64   `json:"count"`
	Sum    float64  `json:"sum"`
}

// Add adds o to h. A histogram with another number of buckets (a worker of
// a build with other bounds) is left out; a nil o adds nothing.
func (h *Histogram) Add(o *Histogram) {
	if o == nil || len(o.Counts) != len(DurationBuckets) {
		return
	}
	if len(h.Counts) != len(DurationBuckets) {
		h.Counts = make([]uint64, len(DurationBuckets))
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.Count += o.Count
	h.Sum += o.Sum
}
