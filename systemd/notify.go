package systemd

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// Notifier sends sd_notify messages to NOTIFY_SOCKET. The zero value reads
// the variable on each call; with none set every method does nothing and
// returns nil. NOTIFY_SOCKET stays in the master's environment (a master
// started by USR2 needs it) and is removed from the workers' by the master.
type Notifier struct{}

func (Notifier) send(state string) error {
	if _, err := daemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("sd_notify %q: %w", firstLine(state), err)
	}
	return nil
}

// Enabled reports whether NOTIFY_SOCKET is set.
func (Notifier) Enabled() bool { return os.Getenv("NOTIFY_SOCKET") != "" }

// Ready says the service is up (or, after Reloading, that the reload is done),
// with a status line.
func (n Notifier) Ready(status string) error {
	return n.send(daemon.SdNotifyReady + "\nSTATUS=" + oneLine(status))
}

// Reloading says a reload began, with CLOCK_MONOTONIC in microseconds as
// Type=notify-reload requires. Ready must follow when it is done.
func (n Notifier) Reloading(status string) error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("sd_notify RELOADING: clock: %w", err)
	}
	usec := ts.Sec*1_000_000 + ts.Nsec/1000
	return n.send(daemon.SdNotifyReloading + "\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10) + "\nSTATUS=" + oneLine(status))
}

// Stopping says the service is shutting down.
func (n Notifier) Stopping(status string) error {
	return n.send(daemon.SdNotifyStopping + "\nSTATUS=" + oneLine(status))
}

// Status updates the status line systemctl status shows.
func (n Notifier) Status(status string) error { return n.send("STATUS=" + oneLine(status)) }

// MainPID tells systemd that pid is now the service's main process (after
// a USR2 hand-off).
func (n Notifier) MainPID(pid int) error { return n.send("MAINPID=" + strconv.Itoa(pid)) }

// Watchdog pings the service watchdog.
func (n Notifier) Watchdog() error { return n.send(daemon.SdNotifyWatchdog) }

// WatchdogInterval returns how often to ping the watchdog: half of
// WATCHDOG_USEC, or 0 when the watchdog is off. WATCHDOG_PID must be this
// process or, for a master started by USR2, one of also (the old master,
// which systemd started).
func WatchdogInterval(also ...int) time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if s := os.Getenv("WATCHDOG_PID"); s != "" {
		pid, err := strconv.Atoi(s)
		if err != nil {
			return 0
		}
		ok := pid == os.Getpid()
		for _, a := range also {
			ok = ok || pid == a
		}
		if !ok {
			return 0
		}
	}
	return time.Duration(usec) * time.Microsecond / 2
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
