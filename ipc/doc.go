// Package ipc is the protocol between the master and its workers.
//
// Each worker gets two pipes from the master: one the master writes and the
// worker reads (control: stop, reopen logs), one the worker writes and the
// master reads (status: ready, heartbeats, a request to be recycled). Every
// message is one frame:
//
//	+---------+------+----------------+-------------------+
//	| version | kind | length (u16 BE)| payload (JSON)    |
//	+---------+------+----------------+-------------------+
//
// A payload is at most 60000 bytes (maxPayload), more than PIPE_BUF (4096
// on Linux), so the kernel does not make a frame's write atomic: frames do
// not interleave because each pipe has one writing process, whose
// goroutines share one Writer, which writes a frame whole under its lock.
// Most payloads are a few hundred bytes; a heartbeat also lists the
// worker's WSGI app processes, 110 to 155 bytes each, so an app's 256 at
// most always fit (about 390 do at worst), and a worker with more (several
// WSGI mounts, or replacements starting beside many recycled processes)
// sends the first ones that fit and says how many it left out
// (Stats.AppsOmitted) rather than fail. A reader that meets an unknown version or an oversized
// frame returns an error and the pipe is treated as broken. EOF on the control pipe means the master is gone: the
// worker drains and exits (see package worker).
//
// The worker learns everything else it needs (its id, generation, config, and
// which inherited fd is which listener) from one environment variable, EnvBoot,
// holding a JSON Boot document.
package ipc
