# Sourced by the examples' run.sh scripts (bash): runs an arbiter master and
# nginx side by side in the foreground of the terminal.
#
#   . ../foreground.sh
#   nginx_if_found nginx.conf "nginx on :8080" "no nginx: arbiter alone on :8000"
#   foreground run/arbiter run app.toml
#
# $nginx is the nginx binary: $NGINX, else nginx in PATH, else Debian's
# /usr/sbin/nginx (which may not exist). nginx_if_found CONF WITH WITHOUT
# sets nginx_conf=CONF and says WITH on stderr when $nginx is a program,
# else only says WITHOUT.
#
# foreground runs its arguments (the master) and, when $nginx_conf is not
# empty, "$nginx" -p "$PWD/" -c "$nginx_conf", both in the background, and
# returns when the first of the two exits, with its status. Whatever ends the
# script then, that return under set -e, Ctrl-C (INT) or TERM, stops the other
# one gracefully (the master with TERM, nginx with QUIT) and waits for it.

nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
nginx_conf= arb= ngx=

nginx_if_found() {
	if [ -x "$nginx" ]; then
		nginx_conf=$1
		echo "$2" >&2
	else
		echo "$3" >&2
	fi
}

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
	if [ -n "$nginx_conf" ]; then
		"$nginx" -p "$PWD/" -c "$nginx_conf" &
		ngx=$!
	fi
	wait -n   # the first of the two to exit ends the demo
}
