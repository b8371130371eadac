package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// arbiter upgrade waits for the new master: a binary that exits at once
// and one that never gets ready (upgrade_timeout) make it exit 8 while the
// old master keeps serving and answering; a good binary takes over, and the
// control socket then reaches the new master.
func TestControlUpgrade(t *testing.T) {
	f := newFixture(t, strings.Replace(upgradeConfig, `upgrade_timeout = "20s"`, `upgrade_timeout = "1s"`, 1))
	bin := filepath.Join(f.dir, "app")
	installBinary(t, helloBuild(t, "1"), bin)
	f.srv = proctest.Start(t, bin, []string{"run", f.cfg})
	f.srv.WaitMsg(0, 30*time.Second, "generation ready")
	old := f.srv.PID

	script := func(body string) {
		t.Helper()
		if err := os.WriteFile(bin+".tmp", []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(bin+".tmp", bin); err != nil {
			t.Fatal(err)
		}
	}
	script("exit 1")
	ctlFails(t, "exited before it was ready (exit code 1", "upgrade", "-c", f.cfg)
	script("exec sleep 60")
	ctlFails(t, "was not ready within upgrade_timeout (1s)", "upgrade", "-c", f.cfg)
	if s := statusJSON(t, "-c", f.cfg); s.PID != old || s.Upgrading != 0 {
		t.Fatalf("after failed upgrades the control socket reaches %d (upgrading %d), want the old master %d", s.PID, s.Upgrading, old)
	}
	if resp, err := client.Get("http://" + f.addr + "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the old master's workers after failed upgrades: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A real new binary, with time to boot.
	f.write(upgradeConfig)
	ctlOK(t, "reload", "-c", f.cfg)
	installBinary(t, helloBuild(t, "2"), bin)
	out := ctlOK(t, "upgrade", "-c", f.cfg)
	var newPID int
	if _, err := fmt.Sscanf(out, "new master %d is ready", &newPID); err != nil || newPID == old {
		t.Fatalf("upgrade: %q", out)
	}
	f.srv.WaitMsg(0, 30*time.Second, "promoted: the old master is gone; this master is in charge")
	if s := statusJSON(t, "-c", f.cfg); s.PID != newPID {
		t.Fatalf("after the upgrade the control socket reaches %d, want the new master %d", s.PID, newPID)
	}
	ctlOK(t, "stop", "-c", f.cfg)
	proctest.Eventually(t, 15*time.Second, "the new master to exit", func() bool { return !proctest.Alive(newPID) })
}
