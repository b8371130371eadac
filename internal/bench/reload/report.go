package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/loadgen"
)

const (
	dipPad      = 500 * time.Millisecond // the dip window reaches this far before and after an event
	attribution = 3 * time.Second        // a failure this long after an event took effect is still counted for it
	warmUp      = time.Second            // buckets before this are not in the median
)

// median returns the median of xs (0 for none).
func median(xs []int64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if n := len(s); n%2 == 1 {
		return float64(s[n/2])
	} else {
		return float64(s[n/2-1]+s[n/2]) / 2
	}
}

// dipRow is the throughput around the events of one kind, relative to the
// median bucket.
type dipRow struct {
	kind                string
	n                   int             // events with a window
	lowWorst, lowMean   float64         // lowest bucket in each window: the lowest of all, their mean
	meanWorst, meanMean float64         // mean bucket of each window: the lowest, their mean
	effect              []time.Duration // done − at, for the events whose done is known
}

// eventWindow returns the buckets [lo, hi) that overlap the time from pad
// before the event to pad after it took effect.
func eventWindow(ev event, pad time.Duration, n int) (lo, hi int) {
	end := max(ev.at, ev.done) + pad
	lo = int(max(ev.at-pad, 0) / loadgen.Bucket)
	hi = int((end + loadgen.Bucket - 1) / loadgen.Bucket)
	return min(lo, n), min(hi, n)
}

// dips computes one dipRow per event kind that occurred, in eventKinds
// order. Events that failed are left out.
func dips(buckets []int64, med float64, evs []event, pad time.Duration) []dipRow {
	var rows []dipRow
	for _, kind := range eventKinds {
		row := dipRow{kind: kind, lowWorst: math.Inf(1), meanWorst: math.Inf(1)}
		for _, ev := range evs {
			if ev.kind != kind || ev.err != nil {
				continue
			}
			if ev.done > 0 {
				row.effect = append(row.effect, ev.done-ev.at)
			}
			lo, hi := eventWindow(ev, pad, len(buckets))
			if hi <= lo || med <= 0 {
				continue
			}
			low, sum := int64(math.MaxInt64), int64(0)
			for _, b := range buckets[lo:hi] {
				low = min(low, b)
				sum += b
			}
			rel := float64(low) / med
			mean := float64(sum) / float64(hi-lo) / med
			row.n++
			row.lowWorst = min(row.lowWorst, rel)
			row.lowMean += rel
			row.meanWorst = min(row.meanWorst, mean)
			row.meanMean += mean
		}
		if row.n > 0 {
			row.lowMean /= float64(row.n)
			row.meanMean /= float64(row.n)
			rows = append(rows, row)
		}
	}
	return rows
}

// quiet returns the lowest and the mean bucket, relative to med, of the
// buckets from `from` on that are in no event's window: the noise of the
// machine itself. n is how many there are.
func quiet(buckets []int64, from int, med float64, evs []event, pad time.Duration) (low, mean float64, n int) {
	in := make([]bool, len(buckets))
	for _, ev := range evs {
		lo, hi := eventWindow(ev, pad, len(buckets))
		for i := lo; i < hi; i++ {
			in[i] = true
		}
	}
	low = math.Inf(1)
	var sum int64
	for i := from; i < len(buckets) && med > 0; i++ {
		if !in[i] {
			low = min(low, float64(buckets[i])/med)
			sum += buckets[i]
			n++
		}
	}
	if n > 0 {
		mean = float64(sum) / float64(n) / med
	}
	return low, mean, n
}

// lastEvent returns the index of the last event sent at or before t (-1
// for none); evs are in the order sent.
func lastEvent(evs []event, t time.Duration) int {
	return sort.Search(len(evs), func(i int) bool { return evs[i].at > t }) - 1
}

// blame returns the event a failure at t is counted for: the last one sent
// before it, if t is within `attribution` of it having taken effect; -1
// otherwise.
func blame(evs []event, t time.Duration) int {
	i := lastEvent(evs, t)
	if i < 0 || t-max(evs[i].at, evs[i].done) > attribution {
		return -1
	}
	return i
}

func pct(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// printResult writes one scenario's block.
func printResult(w io.Writer, r *result) {
	fmt.Fprintf(w, "== %s: %s\n", r.sc.name, r.sc.title)
	for _, e := range r.sc.explain {
		fmt.Fprintf(w, "   %s\n", e)
	}
	switch {
	case r.skipped != "":
		fmt.Fprintf(w, "   SKIPPED: %s\n\n", r.skipped)
		return
	case r.err != nil && r.buckets == nil:
		fmt.Fprintf(w, "   HARNESS ERROR: %v\n\n", r.err)
		return
	}
	total := r.ok + int64(r.failed())
	verdict := "reference (no target)"
	if r.sc.verdict {
		verdict = "PASS (zero failed requests)"
		if !r.pass() {
			verdict = "MISS (target: zero failed requests, every event taking effect)"
		}
	}
	unsent := "all sent"
	if r.unsent > 0 {
		unsent = fmt.Sprintf("%d NOT SENT (out of time)", r.unsent)
	}
	fmt.Fprintf(w, "   load: %d keep-alive connections, one %s after another on each, no retries, %v per request at most, for %v\n",
		r.conns, r.method, r.timeout, r.duration)
	fmt.Fprintf(w, "   events: %s, spread over %v–%v; %s\n", r.counts, ms(r.from), ms(r.to), unsent)
	fmt.Fprintf(w, "   requests: %d (%.0f/s), ok %d, failed %d   → %s\n",
		total, float64(total)/r.duration.Seconds(), r.ok, r.failed(), verdict)
	byKind := map[string]int{}
	for _, f := range r.fails {
		byKind[f.Kind]++
	}
	var parts []string
	for _, k := range loadgen.FailKinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, byKind[k]))
	}
	fmt.Fprintf(w, "   failed by kind: %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(w, "   connections: %d opened, %d ended by the server at a response boundary (Connection: close)\n", r.dials, r.closes)
	printDips(w, r)
	printEvents(w, r)
	printFailures(w, r)
	if r.stopError != nil {
		fmt.Fprintf(w, "   at the stop: %v\n", r.stopError)
	}
	if r.err != nil {
		fmt.Fprintf(w, "   HARNESS ERROR: %v\n", r.err)
	}
	if len(r.notes) > 0 {
		fmt.Fprintf(w, "   logs during the load:\n")
		for i, n := range r.notes {
			if i == 12 {
				fmt.Fprintf(w, "     … %d more\n", len(r.notes)-i)
				break
			}
			fmt.Fprintf(w, "     %s\n", n)
		}
	}
	fmt.Fprintln(w)
}

func printDips(w io.Writer, r *result) {
	warm := min(int(warmUp/loadgen.Bucket), len(r.buckets))
	med := median(r.buckets[warm:])
	fmt.Fprintf(w, "   throughput: median %.0f responses per 100 ms (%.0f/s) after the first %v\n", med, med*10, warmUp)
	if low, mean, n := quiet(r.buckets, warm, med, r.events, dipPad); n > 0 {
		fmt.Fprintf(w, "   without events (%d buckets outside every event's window): lowest %s, mean %s of the median;"+
			" load average %.1f before, %.1f after, on %d CPUs\n", n, pct(low), pct(mean), r.loadBefore, r.loadAfter, runtime.NumCPU())
	}
	rows := dips(r.buckets, med, r.events, dipPad)
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "   dip around each kind of event: 100 ms buckets from %v before the signal to %v after it took effect\n", dipPad, dipPad)
	fmt.Fprintf(w, "   (or after the signal, when that is not known), relative to the median:\n")
	fmt.Fprintf(w, "     %-5s %4s   %-24s %-24s %s\n", "event", "n", "lowest bucket worst/mean", "window mean worst/mean", "took effect median/max")
	for _, d := range rows {
		eff := "-"
		if len(d.effect) > 0 {
			s := append([]time.Duration(nil), d.effect...)
			sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
			eff = fmt.Sprintf("%s / %s", ms(s[len(s)/2]), ms(s[len(s)-1]))
		}
		fmt.Fprintf(w, "     %-5s %4d   %-24s %-24s %s\n", d.kind, d.n,
			pct(d.lowWorst)+" / "+pct(d.lowMean), pct(d.meanWorst)+" / "+pct(d.meanMean), eff)
	}
}

// printEvents lists USR2 outcomes and every event that went wrong.
func printEvents(w io.Writer, r *result) {
	for i, ev := range r.events {
		switch {
		case ev.err != nil:
			fmt.Fprintf(w, "   %s #%d at %.3fs FAILED: %v\n", ev.kind, ordinal(r.events, i), ev.at.Seconds(), ev.err)
		case ev.kind == evUSR2:
			fmt.Fprintf(w, "   USR2 #%d at %.3fs: %s\n", ordinal(r.events, i), ev.at.Seconds(), ev.note)
		case ev.note != "":
			fmt.Fprintf(w, "   %s #%d at %.3fs: %s\n", ev.kind, ordinal(r.events, i), ev.at.Seconds(), ev.note)
		}
	}
}

// ordinal is the 1-based number of evs[i] among the events of its kind.
func ordinal(evs []event, i int) int {
	n := 0
	for _, ev := range evs[:i+1] {
		if ev.kind == evs[i].kind {
			n++
		}
	}
	return n
}

func printFailures(w io.Writer, r *result) {
	if len(r.fails) == 0 {
		return
	}
	// Kind of failure × kind of event it followed.
	cols := append(append([]string{}, eventKinds...), "none")
	table := map[string]map[string]int{}
	perEvent := map[int]int{}
	for _, f := range r.fails {
		col := "none"
		if i := blame(r.events, f.At); i >= 0 {
			col = r.events[i].kind
			perEvent[i]++
		}
		if table[f.Kind] == nil {
			table[f.Kind] = map[string]int{}
		}
		table[f.Kind][col]++
	}
	fmt.Fprintf(w, "   failures by the event they followed (the last one sent, if it took effect less than %v before; else none):\n", attribution)
	fmt.Fprintf(w, "     %-10s", "")
	for _, c := range cols {
		fmt.Fprintf(w, " %6s", c)
	}
	fmt.Fprintln(w)
	for _, k := range loadgen.FailKinds {
		if table[k] == nil {
			continue
		}
		fmt.Fprintf(w, "     %-10s", k)
		for _, c := range cols {
			fmt.Fprintf(w, " %6d", table[k][c])
		}
		fmt.Fprintln(w)
	}
	// The events followed by the most failures.
	var idx []int
	for i := range perEvent {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool {
		if perEvent[idx[a]] != perEvent[idx[b]] {
			return perEvent[idx[a]] > perEvent[idx[b]]
		}
		return idx[a] < idx[b]
	})
	var worst []string
	for _, i := range idx[:min(5, len(idx))] {
		ev := r.events[i]
		worst = append(worst, fmt.Sprintf("%s #%d at %.1fs: %d", ev.kind, ordinal(r.events, i), ev.at.Seconds(), perEvent[i]))
	}
	if len(worst) > 0 {
		fmt.Fprintf(w, "   most failures after: %s (%d of %d events sent were followed by failures)\n",
			strings.Join(worst, "; "), len(perEvent), len(r.events))
	}
	// Samples: the first failures, then the first of each kind not shown.
	shown := map[string]bool{}
	var sample []loadgen.Failure
	for _, f := range r.fails {
		if len(sample) < 8 || !shown[f.Kind] {
			sample = append(sample, f)
			shown[f.Kind] = true
		}
	}
	fmt.Fprintf(w, "   failures (the first %d, and the first of each other kind):\n", min(8, len(r.fails)))
	for _, f := range sample {
		after := "no event before it"
		if i := lastEvent(r.events, f.At); i >= 0 {
			ev := r.events[i]
			after = fmt.Sprintf("%s after %s #%d (sent to %d", ms(f.At-ev.at), ev.kind, ordinal(r.events, i), ev.pid)
			if ev.done > 0 {
				after += fmt.Sprintf(", took effect at %+v", ms(ev.done-ev.at))
			}
			after += ")"
		}
		fmt.Fprintf(w, "     t=%8.3fs %-9s %s — %s\n", f.At.Seconds(), f.Kind, f.Detail, after)
	}
}

// printSummary writes one line per scenario.
func printSummary(w io.Writer, rs []*result) {
	fmt.Fprintf(w, "== summary\n")
	fmt.Fprintf(w, "   %-30s %10s %8s %8s  %s\n", "scenario", "requests", "failed", "HUP dip", "verdict")
	for _, r := range rs {
		switch {
		case r.skipped != "":
			fmt.Fprintf(w, "   %-30s %10s %8s %8s  skipped: %s\n", r.sc.name, "-", "-", "-", r.skipped)
			continue
		case r.err != nil && r.buckets == nil:
			fmt.Fprintf(w, "   %-30s %10s %8s %8s  harness error\n", r.sc.name, "-", "-", "-")
			continue
		}
		verdict := "reference"
		if r.sc.verdict {
			verdict = "PASS"
			if !r.pass() {
				verdict = "MISS"
			}
		}
		dip := "-"
		warm := min(int(warmUp/loadgen.Bucket), len(r.buckets))
		for _, d := range dips(r.buckets, median(r.buckets[warm:]), r.events, dipPad) {
			if d.kind == evHUP {
				dip = pct(d.lowWorst)
			}
		}
		fmt.Fprintf(w, "   %-30s %10d %8d %8s  %s\n", r.sc.name, r.ok+int64(r.failed()), r.failed(), dip, verdict)
	}
	fmt.Fprintf(w, "   (HUP dip: the lowest 100 ms bucket around any HUP, relative to the median)\n")
}
