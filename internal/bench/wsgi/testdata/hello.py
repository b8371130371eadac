"""bench-wsgi's hello-world WSGI callable: a fixed body naming its process."""

import os

BODY = b"hello from %d\n" % os.getpid()
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
