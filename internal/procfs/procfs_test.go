package procfs

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestProcesses(t *testing.T) {
	me, ok := Stat(os.Getpid())
	if !ok || me.PPID != os.Getppid() || !me.Live() {
		t.Fatalf("Stat(self) = %+v, %v", me, ok)
	}
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if kids := Children(os.Getpid()); !contains(kids, pid) {
		t.Fatalf("Children = %v, want %d among them", kids, pid)
	}
	if g := Group(pid); len(g) != 1 || g[0] != pid {
		t.Fatalf("Group = %v", g)
	}
	cmd.Process.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for !contains(Zombies(os.Getpid()), pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !contains(Zombies(os.Getpid()), pid) || Alive(pid) {
		t.Fatal("the killed child is not a zombie")
	}
	cmd.Wait()
	if _, ok := Stat(pid); ok {
		t.Fatal("reaped child still has a /proc entry")
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
