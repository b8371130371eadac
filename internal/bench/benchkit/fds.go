package benchkit

import "github.com/arbiter-dev/arbiter/internal/fds"

// CloseInherited makes the servers a benchmark starts get stdin, stdout,
// stderr and what they are handed, as under a service manager: it marks
// every descriptor the benchmark inherited above 2 close-on-exec. One
// inherited without the flag (a shell's, a CI runner's) would reach every
// server and everything a server forks, and a high one makes each such
// fork copy a larger descriptor table: fcgiwrap forks per request.
func CloseInherited() error { return fds.CloseOnExecAll() }
