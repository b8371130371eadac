# Sourced by the examples' run.sh scripts (bash): runs an arbiter master and
# nginx side by side in the foreground of the terminal.
#
#   nginx=/usr/sbin/nginx nginx_conf=nginx.conf
#   foreground run/arbiter run app.toml
#
# foreground runs its arguments (the master) and, when $nginx_conf is not
# empty, "$nginx" -p "$PWD/" -c "$nginx_conf", both in the background, and
# returns when the first of the two exits, with its status. Whatever ends the
# script then, that return under set -e, Ctrl-C (INT) or TERM, stops the other
# one gracefully (the master with TERM, nginx with QUIT) and waits for it.

arb= ngx=
foreground_stop() {
	trap - EXIT INT TERM
	if [ -n "$arb" ]; then kill -TERM "$arb" 2>/dev/null || true; fi   # graceful stop
	if [ -n "$ngx" ]; then kill -QUIT "$ngx" 2>/dev/null || true; fi   # graceful stop
	wait
}

foreground() {
	trap foreground_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	"$@" &
	arb=$!
	if [ -n "${nginx_conf:-}" ]; then
		"$nginx" -p "$PWD/" -c "$nginx_conf" &
		ngx=$!
	fi
	wait -n   # the first of the two to exit ends the demo
}
