#!/usr/bin/env bash
# Builds bin/arbiter and runs it with app.toml (the Flask app at /, the image
# resize at /resize), and nginx with nginx.conf in front of it, both in the
# foreground of this terminal. Ctrl-C stops both, and so does either one
# exiting. From anywhere:
#
#   examples/wsgi/run.sh
#
# `arbiter check` first imports both apps once, so that a python3 without
# Flask or Pillow is said before anything starts. Without nginx (Debian:
# apt-get install nginx-light) only arbiter runs, and only its HTTP port,
# 8000, answers. $NGINX names another nginx binary.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p run
arbiter=../../bin/arbiter

(cd ../.. && go build -o bin/arbiter ./cmd/arbiter)
if ! "$arbiter" check app.toml; then
	echo "wsgi: arbiter check failed (above). app.toml's python, /usr/bin/python3, needs Flask and Pillow (Debian: apt-get install python3-flask python3-pil)" >&2
	exit 1
fi

. ../foreground.sh
nginx_if_found nginx.conf \
	"wsgi: nginx on 127.0.0.1:8080 (uwsgi), :8081 (FastCGI); arbiter on 127.0.0.1:8000 (HTTP)" \
	"wsgi: nginx not found; only arbiter's HTTP port 127.0.0.1:8000 answers"
foreground "$arbiter" run app.toml
