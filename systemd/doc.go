// Package systemd is arbiter's side of the systemd protocols: the sockets a
// unit's .socket passes (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES) and the
// notifications a Type=notify or Type=notify-reload service sends
// (READY, RELOADING with MONOTONIC_USEC, STOPPING, STATUS, MAINPID and
// WATCHDOG). It mirrors the protocols and nothing more; when and why the
// master sends what is in arbiter/master.
//
// Outside systemd (no NOTIFY_SOCKET, no LISTEN_FDS) everything here is a
// no-op, so callers need no checks of their own.
package systemd
