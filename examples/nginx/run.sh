#!/usr/bin/env bash
# Runs arbiter and nginx with one of the configs in this directory, both in
# the foreground of this terminal; Ctrl-C stops both, and so does either one
# exiting. From anywhere:
#
#   examples/nginx/run.sh fastcgi|scgi|uwsgi|http|cgi
#
# fastcgi, scgi, uwsgi and http run arbiter with app.toml (the echo app) and
# nginx with nginx-PROTOCOL.conf; cgi runs cgi.toml and nginx-cgi.conf. nginx
# listens on 127.0.0.1:8080. $NGINX names another nginx binary.
set -euo pipefail
cd "$(dirname "$0")"

case "${1:-}" in
fastcgi | scgi | uwsgi | http) cfg=app.toml ;;
cgi) cfg=cgi.toml ;;
*)
	echo "usage: $0 fastcgi|scgi|uwsgi|http|cgi" >&2
	exit 2
	;;
esac
. ../foreground.sh
nginx_conf=nginx-$1.conf
if [ ! -x "$nginx" ]; then
	echo "$0: nginx not found (Debian: apt-get install nginx-light)" >&2
	exit 1
fi

mkdir -p run
go build -o run/arbiter ../../cmd/arbiter

echo "nginx ($nginx_conf) on 127.0.0.1:8080, arbiter ($cfg) behind it" >&2
foreground run/arbiter run "$cfg"
