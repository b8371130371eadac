#!/usr/bin/env bash
# Builds imageresize and runs it with app.toml, and nginx with nginx.conf in
# front of it, both in the foreground of this terminal. Ctrl-C stops both, and
# so does either one exiting. From anywhere:
#
#   examples/imageresize/run.sh
#
# Without nginx (Debian: apt-get install nginx-light) only arbiter runs, and
# only its HTTP port, 8087, answers. $NGINX names another nginx binary.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p run

go build -o run/imageresize .

. ../foreground.sh
nginx_if_found nginx.conf \
	"imageresize: nginx on 127.0.0.1:8888 (FastCGI), :9999 (SCGI), :9898 (uwsgi); arbiter on 127.0.0.1:8087 (HTTP)" \
	"imageresize: nginx not found; only arbiter's HTTP port 127.0.0.1:8087 answers"
foreground run/imageresize run app.toml
