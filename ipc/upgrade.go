package ipc

import (
	"encoding/json"
	"fmt"
)

// EnvUpgrade is the environment variable with which an old master (on
// USR2) tells the new master it starts what it inherits. The new master
// removes it at once.
const EnvUpgrade = "ARBITER_UPGRADE"

// Upgrade is the hand-off document from the old master to the new one.
//
// The new master adopts the listeners (by address; the fds stay open
// across the exec), starts its workers, and once its first generation is
// ready sends one KindReady frame on ReadyFD and closes it. The old master
// then drains its workers and exits; the new master sees EOF on LifelineFD
// (the old master's end closes with it) and takes over the pidfile's name.
type Upgrade struct {
	Parent     int        `json:"parent"`      // the old master's pid
	ReadyFD    int        `json:"ready_fd"`    // write end: KindReady when ready
	LifelineFD int        `json:"lifeline_fd"` // read end: EOF when the old master is gone
	Listeners  []Listener `json:"listeners"`
}

// Encode returns u as the value of EnvUpgrade.
func (u *Upgrade) Encode() (string, error) {
	b, err := json.Marshal(u)
	if err != nil {
		return "", fmt.Errorf("encode upgrade: %w", err)
	}
	return string(b), nil
}

// DecodeUpgrade parses the value of EnvUpgrade.
func DecodeUpgrade(s string) (*Upgrade, error) {
	var u Upgrade
	if err := json.Unmarshal([]byte(s), &u); err != nil {
		return nil, fmt.Errorf("decode upgrade: %w", err)
	}
	if u.Parent <= 0 || u.ReadyFD < 3 || u.LifelineFD < 3 {
		return nil, fmt.Errorf("decode upgrade: incomplete hand-off document %q", s)
	}
	return &u, nil
}
