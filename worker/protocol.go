package worker

import (
	"fmt"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/ipc"
)

// newProtocolServer builds the server for the CGI-style protocols.
func newProtocolServer(bl ipc.Listener, cfg *config.Config, h http.Handler, log zerolog.Logger) (server, error) {
	return nil, fmt.Errorf("listener %s: protocol %q is not available in this build", bl.Address, bl.Protocol)
}
