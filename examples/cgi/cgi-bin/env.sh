#!/bin/sh
# env.sh: what a CGI script gets. Prints its environment, sorted, and the
# request body from stdin (CONTENT_LENGTH bytes; the first 64 KiB of it).
#
#   curl 'http://127.0.0.1:8088/cgi-bin/env.sh/extra/path?a=1&b=2'
#   curl --data 'hello' http://127.0.0.1:8088/cgi-bin/env.sh

printf 'Content-Type: text/plain; charset=utf-8\n\n'
env | LC_ALL=C sort
if [ -n "${CONTENT_LENGTH:-}" ] && [ "$CONTENT_LENGTH" -gt 0 ]; then
	printf '\nbody (%s bytes):\n' "$CONTENT_LENGTH"
	head -c "$CONTENT_LENGTH" | head -c 65536
	printf '\n'
fi
