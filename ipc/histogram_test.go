package ipc

import (
	"reflect"
	"testing"
)

func TestHistogramAdd(t *testing.T) {
	n := len(DurationBuckets)
	one := func(v uint64) *Histogram {
		h := &Histogram{Counts: make([]uint64, n), Count: v, Sum: float64(v)}
		for i := range h.Counts {
			h.Counts[i] = v
		}
		return h
	}
	var h Histogram
	h.Add(nil)
	h.Add(&Histogram{Counts: []uint64{1}, Count: 1, Sum: 1}) // other bounds: left out
	if h.Count != 0 || h.Counts != nil {
		t.Fatalf("after nil and a foreign histogram: %+v", h)
	}
	h.Add(one(2))
	h.Add(one(3))
	if !reflect.DeepEqual(&h, one(5)) {
		t.Errorf("got %+v, want %+v", h, one(5))
	}
}
