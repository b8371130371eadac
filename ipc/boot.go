package ipc

import (
	"encoding/json"
	"fmt"

	"github.com/arbiter-dev/arbiter/arbiter/config"
)

// EnvBoot is the environment variable that carries a worker's Boot document.
// The worker removes it from its environment at once, so nothing it starts
// (a CGI script) inherits it.
const EnvBoot = "ARBITER_WORKER"

// Listener tells a worker which inherited fd is which listener.
type Listener struct {
	FD       int    `json:"fd"`
	Address  string `json:"address"`
	Protocol string `json:"protocol"`
	Name     string `json:"name,omitempty"`
	// ProxyProtocol: connections start with a PROXY protocol header.
	ProxyProtocol bool `json:"proxy_protocol,omitempty"`
	// TLS is the listener's certificate files; the worker reads them as
	// it boots. Empty: plain text.
	TLS config.ListenTLS `json:"tls,omitzero"`
	H2C bool             `json:"h2c,omitempty"` // HTTP/2 with prior knowledge on a plain listener
}

// Boot is everything a worker needs besides its inherited fds.
type Boot struct {
	ID         int            `json:"id"`         // worker number, unique in the master's life
	Generation int            `json:"generation"` // config generation; HUP increments it
	ControlFD  int            `json:"control_fd"` // master → worker pipe (read end)
	StatusFD   int            `json:"status_fd"`  // worker → master pipe (write end)
	Listeners  []Listener     `json:"listeners"`
	Config     *config.Config `json:"config"`
	// MaxRequests is this worker's own limit: max_requests plus its jitter; 0 = none.
	MaxRequests int `json:"max_requests"`
}

// Encode returns b as the value of EnvBoot.
func (b *Boot) Encode() (string, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("encode worker boot: %w", err)
	}
	return string(data), nil
}

// DecodeBoot parses the value of EnvBoot.
func DecodeBoot(s string) (*Boot, error) {
	if s == "" {
		return nil, fmt.Errorf("decode worker boot: %s is not set (this command is started by the master)", EnvBoot)
	}
	var b Boot
	if err := json.Unmarshal([]byte(s), &b); err != nil {
		return nil, fmt.Errorf("decode worker boot: %w", err)
	}
	if b.Config == nil {
		return nil, fmt.Errorf("decode worker boot: no config")
	}
	return &b, nil
}
