package benchkit

import (
	"errors"
	"testing"
	"time"
)

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                        "0µs",
		812500 * time.Nanosecond: "812µs",
		1250 * time.Microsecond:  "1.25ms",
		-2 * time.Millisecond:    "-2.00ms",
		1500 * time.Millisecond:  "1.50s",
	} {
		if got := FmtDur(d); got != want {
			t.Errorf("FmtDur(%v) = %q, want %q", d, got, want)
		}
	}
	if got := FirstLine(errors.New("check: boom\nthe log")); got != "check: boom" {
		t.Errorf("FirstLine = %q", got)
	}
}
