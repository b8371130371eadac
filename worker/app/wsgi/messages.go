package wsgi

import (
	"encoding/json"
	"fmt"
	"syscall"
)

// bootError decodes a BOOT_ERROR frame, JSON {"error", "traceback"}, into
// an *AppLoadError for module; a payload that is not that JSON is an
// errProtocol.
func bootError(payload []byte, module string) error {
	var m struct{ Error, Traceback string }
	if err := json.Unmarshal(payload, &m); err != nil {
		return fmt.Errorf("%w: bad BOOT_ERROR %q", errProtocol, payload)
	}
	return &AppLoadError{Module: module, Exception: m.Error, Traceback: m.Traceback}
}

// parseReady decodes a READY frame's JSON {"pid", "python"}: the pid of the
// process that is ready; a payload that is not that, or a pid that is not
// positive, is an errProtocol.
func parseReady(payload []byte) (int, error) {
	var m struct {
		PID    int    `json:"pid"`
		Python string `json:"python"`
	}
	if err := json.Unmarshal(payload, &m); err != nil || m.PID <= 0 {
		return 0, fmt.Errorf("%w: bad READY %q", errProtocol, payload)
	}
	return m.PID, nil
}

// parseSpawned decodes the zygote's SPAWNED frame, JSON {"pid", "index"}:
// the pid of the process it forked for the proc with id index. A pid that
// is not positive is an errProtocol: a pid of 0 or -1 given to kill(2) is
// a process group or every process.
func parseSpawned(payload []byte) (pid, index int, err error) {
	var m struct{ PID, Index int }
	if err := json.Unmarshal(payload, &m); err != nil || m.PID <= 0 {
		return 0, 0, fmt.Errorf("%w: bad SPAWNED %q", errProtocol, payload)
	}
	return m.PID, m.Index, nil
}

// parseExited decodes the zygote's EXITED frame, JSON {"pid", "status"}:
// which of its children exited, with its wait status.
func parseExited(payload []byte) (int, syscall.WaitStatus, error) {
	var m struct{ PID, Status int }
	if err := json.Unmarshal(payload, &m); err != nil || m.PID <= 0 {
		return 0, 0, fmt.Errorf("%w: bad EXITED %q", errProtocol, payload)
	}
	return m.PID, syscall.WaitStatus(m.Status), nil
}
