package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// examples/systemd passes systemd-analyze verify (with ExecStart pointed at
// a real binary), and its app.toml passes arbiter check.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	bin := proctest.Build(t, "./cmd/arbiter")
	src := filepath.Join(proctest.ModuleRoot(t), "examples", "systemd")
	if out, code := runCLI(t, bin, nil, "check", filepath.Join(src, "app.toml")); code != 0 {
		t.Fatalf("arbiter check examples/systemd/app.toml: %d\n%s", code, out)
	}
	dir := t.TempDir()
	for _, name := range []string{"arbiter.socket", "arbiter.service", "arbiter-notify-reload.service"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "/usr/local/bin/arbiter", bin)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(units ...string) string {
		cmd := exec.Command(analyze, append([]string{"verify"}, units...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze verify %v: %v\n%s", units, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := verify("./arbiter.socket", "./arbiter.service"); out != "" {
		t.Errorf("arbiter.service is not clean:\n%s", out)
	}
	// Type=notify-reload and ReloadSignal= exist from systemd 253 on; older
	// versions (Debian 12 has 252) may warn about exactly those two lines.
	out := verify("./arbiter.socket", "./arbiter-notify-reload.service")
	if systemdVersion(t, analyze) >= 253 {
		if out != "" {
			t.Errorf("arbiter-notify-reload.service is not clean:\n%s", out)
		}
		return
	}
	for _, line := range strings.Split(out, "\n") {
		if line != "" && !strings.Contains(line, "notify-reload") && !strings.Contains(line, "'ReloadSignal'") {
			t.Errorf("arbiter-notify-reload.service: unexpected warning: %s", line)
		}
	}
}

func systemdVersion(t *testing.T, analyze string) int {
	out, err := exec.Command(analyze, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`systemd (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no version in %q", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
