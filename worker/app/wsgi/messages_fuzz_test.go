package wsgi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// FuzzControlMessages gives one payload to every decoder of a control
// frame: READY, BOOT_ERROR, SPAWNED, EXITED and LOG. What one refuses is
// an errProtocol; what it takes has a positive pid and comes back the same
// when encoded as the runner encodes it (json.dumps); a LOG frame is one
// log line at its level, its message the text's first line.
func FuzzControlMessages(f *testing.F) {
	f.Fuzz(func(t *testing.T, payload []byte) {
		again := func(v any) []byte {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		if pid, err := parseReady(payload); err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("READY: %v", err)
			}
		} else if pid <= 0 {
			t.Fatalf("READY pid %d", pid)
		} else if p2, err := parseReady(again(map[string]any{"pid": pid, "python": "3.11.2"})); err != nil || p2 != pid {
			t.Fatalf("READY again: %d %v, want %d", p2, err, pid)
		}

		if pid, index, err := parseSpawned(payload); err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("SPAWNED: %v", err)
			}
		} else if pid <= 0 {
			t.Fatalf("SPAWNED pid %d", pid)
		} else if p2, i2, err := parseSpawned(again(map[string]any{"pid": pid, "index": index})); err != nil || p2 != pid || i2 != index {
			t.Fatalf("SPAWNED again: %d %d %v, want %d %d", p2, i2, err, pid, index)
		}

		if pid, ws, err := parseExited(payload); err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("EXITED: %v", err)
			}
		} else if pid <= 0 {
			t.Fatalf("EXITED pid %d", pid)
		} else if p2, ws2, err := parseExited(again(map[string]any{"pid": pid, "status": uint32(ws)})); err != nil || p2 != pid || ws2 != ws {
			t.Fatalf("EXITED again: %d %v %v, want %d %v", p2, ws2, err, pid, ws)
		}

		err := bootError(payload, "app:application")
		var le *AppLoadError
		switch {
		case errors.As(err, &le):
			if le.Module != "app:application" {
				t.Fatalf("BOOT_ERROR module %q", le.Module)
			}
			err2 := bootError(again(map[string]string{"error": le.Exception, "traceback": le.Traceback}), le.Module)
			var le2 *AppLoadError
			if !errors.As(err2, &le2) || *le2 != *le {
				t.Fatalf("BOOT_ERROR again: %v, want %+v", err2, le)
			}
		case !errors.Is(err, errProtocol):
			t.Fatalf("BOOT_ERROR: %v", err)
		}

		var out bytes.Buffer
		(&pool{}).logFrame(zerolog.New(&out), payload)
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(payload) == 0 {
			if out.Len() != 0 {
				t.Fatalf("an empty LOG frame logged %q", out.String())
			}
			return
		}
		if len(lines) != 1 {
			t.Fatalf("a LOG frame gave %d lines: %q", len(lines), out.String())
		}
		var ev struct{ Level, Message, Traceback string }
		if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
			t.Fatalf("LOG line %q: %v", lines[0], err)
		}
		want := map[byte]string{logInfo: "info", logWarn: "warn"}[payload[0]]
		if want == "" {
			want = "error"
		}
		msg, _, _ := strings.Cut(string(payload[1:]), "\n")
		if ev.Level != want || ev.Message != strings.ToValidUTF8(msg, "\ufffd") && ev.Message != string([]rune(msg)) {
			t.Fatalf("LOG level %q message %q, want %q %q", ev.Level, ev.Message, want, msg)
		}
	})
}
