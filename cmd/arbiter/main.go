// Command arbiter is a pre-fork process manager: `arbiter run app.toml`.
// See the README and docs/.
package main

import (
	"github.com/arbiter-dev/arbiter/cmd"
	"github.com/arbiter-dev/arbiter/worker"
)

func main() { cmd.Main(worker.App{}) }
