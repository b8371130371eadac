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
// A frame is written with a single write(2) and is far below PIPE_BUF, so
// frames from concurrent writers never interleave. A reader that meets an
// unknown version or an oversized frame returns an error and the pipe is
// treated as broken. EOF on the control pipe means the master is gone: the
// worker drains and exits (see package worker).
//
// The worker learns everything else it needs (its id, generation, config, and
// which inherited fd is which listener) from one environment variable, EnvBoot,
// holding a JSON Boot document.
package ipc
