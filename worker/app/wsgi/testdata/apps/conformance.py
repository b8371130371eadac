"""A WSGI app with one route per behaviour the tests check.

Each route is wrapped in wsgiref.validate.validator unless it breaks PEP 3333
on purpose (the /bad/ routes), so that the standard library checks both the
environ arbiter builds and the way arbiter drives the app.
"""

import hashlib
import json
import os
import sys
import threading
import time
from wsgiref.validate import validator

CLOSED = []  # paths whose iterable's close() ran, newest last
HELD = []  # memory /grow holds on to
BARRIERS = {}
AFTER_CLOSE = {}  # /work-on-close's events and what its close() recorded

if os.environ.get("ARBITER_TEST_IMPORTS"):
    with open(os.environ["ARBITER_TEST_IMPORTS"], "a") as f:
        f.write("%d\n" % os.getpid())
if os.environ.get("ARBITER_TEST_FAIL_IF") and os.path.exists(os.environ["ARBITER_TEST_FAIL_IF"]):
    raise RuntimeError("told to fail: %s exists" % os.environ["ARBITER_TEST_FAIL_IF"])
if os.environ.get("ARBITER_TEST_HANG_IF") and os.path.exists(os.environ["ARBITER_TEST_HANG_IF"]):
    import time

    time.sleep(3600)  # an import stuck on a lock or a network call


def environ_json(environ):
    out = {}
    for k, v in environ.items():
        if isinstance(v, (str, int, bool, float, tuple)) or v is None:
            out[k] = v
        else:
            out[k] = type(v).__name__
    return out


def echo_environ(environ, start_response):
    body = json.dumps(environ_json(environ), sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def read_body(environ, start_response):
    """Reads wsgi.input the way the query string says and answers with the
    SHA-256 and length of what it read."""
    inp = environ["wsgi.input"]
    how = environ.get("QUERY_STRING", "read")
    h = hashlib.sha256()
    n = 0
    if how == "read":
        data = inp.read(int(environ.get("CONTENT_LENGTH") or 0))
        h.update(data)
        n = len(data)
    elif how == "read-all":  # read() without a size: not PEP 3333, but every framework does it
        data = inp.read()
        h.update(data)
        n = len(data)
    elif how == "readline":
        while True:
            line = inp.readline(1000)
            if not line:
                break
            h.update(line)
            n += len(line)
    elif how == "readlines":
        for line in inp.readlines():
            h.update(line)
            n += len(line)
    elif how == "iter":
        for line in inp:
            h.update(line)
            n += len(line)
    elif how == "chunks":
        while True:
            data = inp.read(4096)
            if not data:
                break
            h.update(data)
            n += len(data)
    body = json.dumps({"sha256": h.hexdigest(), "length": n, "content_length": environ.get("CONTENT_LENGTH")}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


class Closing:
    """An iterable whose close() is recorded."""

    def __init__(self, name, chunks, delay=0.0):
        self.name = name
        self.chunks = chunks
        self.delay = delay

    def __iter__(self):
        for c in self.chunks:
            if self.delay:
                time.sleep(self.delay)
            yield c

    def close(self):
        CLOSED.append(self.name)


def stream(environ, start_response):
    """?n=5&delay=0.2: n chunks, each after delay seconds."""
    q = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
    n = int(q.get("n", "5"))
    delay = float(q.get("delay", "0.2"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing("stream", [b"chunk %d\n" % i for i in range(n)], delay)


def forever(environ, start_response):
    """Streams until the client goes away; close() records it."""
    start_response("200 OK", [("Content-Type", "text/event-stream")])

    def gen():
        i = 0
        while True:
            yield b"data: %d\n\n" % i
            i += 1
            time.sleep(0.05)

    return Closing("forever", gen())


class WorkOnClose:
    """A whole body with its Content-Length, and post-response work in
    close() (Flask's call_on_close, Django's request_finished): close() waits
    for /release, at most 10 s, and records whether it was released."""

    def __init__(self, body):
        self.body = body

    def __iter__(self):
        yield self.body

    def close(self):
        AFTER_CLOSE["result"] = "released" if AFTER_CLOSE["release"].wait(10) else "timed out"
        AFTER_CLOSE["done"].set()


def work_on_close(environ, start_response):
    AFTER_CLOSE.update(release=threading.Event(), done=threading.Event(), result=None)
    body = b"the response, before close()\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return WorkOnClose(body)


def release(environ, start_response):
    """Lets /work-on-close's close() return; answers what it recorded."""
    AFTER_CLOSE["release"].set()
    AFTER_CLOSE["done"].wait(10)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(AFTER_CLOSE["result"]).encode()]


def closed(environ, start_response):
    body = json.dumps(CLOSED).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def write_callable(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    write(b"then ")
    return [b"returned\n"]


def file_wrapper(environ, start_response):
    path = environ.get("QUERY_STRING")
    f = open(path, "rb")
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f, 65536)


def file_wrapper_offset(environ, start_response):
    """The file from byte 10: the worker must start where the file is."""
    f = open(environ.get("QUERY_STRING"), "rb")
    f.read(10)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f)


def exc_info_before(environ, start_response):
    """start_response again with exc_info before the body: the second wins."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("replaced")
    except ValueError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced\n"]


def pid(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d" % os.getpid()]


def sleep(environ, start_response):
    time.sleep(float(environ.get("QUERY_STRING") or "1"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slept\n"]


def crash(environ, start_response):
    os._exit(9)


def big(environ, start_response):
    n = int(environ.get("QUERY_STRING") or "1048576")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [b"x" * n]


def head(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
    return [b"hello\n"]


def order(environ, start_response):
    start_response("200 OK", [("X-Z", "1"), ("x-a", "2"), ("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    return [b"in order\n"]


def status204(environ, start_response):
    start_response("204 No Content", [])
    return []


def hop(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close"), ("Keep-Alive", "timeout=5")])
    return [b"hop\n"]


def threads(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%d %s" % (threading.active_count(), threading.current_thread().name)).encode()]


def errors_stream(environ, start_response):
    environ["wsgi.errors"].write("to wsgi.errors from the app\n")
    environ["wsgi.errors"].flush()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"logged\n"]


def grow(environ, start_response):
    """Holds on to ?MB more megabytes."""
    HELD.append(bytearray(int(environ.get("QUERY_STRING") or "1") << 20))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d" % os.getpid()]


def barrier(environ, start_response):
    """Returns once ?N requests wait here at the same time (10 s at most)."""
    n = int(environ.get("QUERY_STRING") or "2")
    b = BARRIERS.setdefault(n, threading.Barrier(n))
    b.wait(10)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"met"]


# Routes that break PEP 3333 on purpose (not validated).
def bad_status(environ, start_response):
    start_response("OK", [("Content-Type", "text/plain")])
    return [b"x"]


def bad_status_int(environ, start_response):
    start_response(200, [("Content-Type", "text/plain")])
    return [b"x"]


def bad_body_str(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["a str, not bytes"]


def bad_header_crlf(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Evil", "a\r\nSet-Cookie: pwned=1")])
    return [b"x"]


def bad_header_name(environ, start_response):
    start_response("200 OK", [("Bad Name", "x")])
    return [b"x"]


def bad_header_latin1(environ, start_response):
    start_response("200 OK", [("X-Snowman", "\u2603")])
    return [b"x"]


def raise_before(environ, start_response):
    raise RuntimeError("boom before the headers")


def raise_after(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        yield b"first part\n"
        raise RuntimeError("boom after the headers")

    return gen()


def no_start_response(environ, start_response):
    return [b"never started"]


def second_start_response(environ, start_response):
    start_response("200 OK", [])
    start_response("200 OK", [])
    return [b"x"]


def exit_process(environ, start_response):
    raise SystemExit(3)


ROUTES = {
    "/environ": validator(echo_environ),
    "/body": validator(read_body),
    "/body-raw": read_body,
    "/stream": validator(stream),
    "/forever": forever,
    "/closed": validator(closed),
    "/work-on-close": work_on_close,
    "/release": release,
    "/write": validator(write_callable),
    "/file": file_wrapper,  # the validator's wrapper would hide the file from the worker
    "/file-validated": validator(file_wrapper),
    "/file-offset": file_wrapper_offset,
    "/exc-info": validator(exc_info_before),
    "/pid": validator(pid),
    "/sleep": validator(sleep),
    "/crash": crash,
    "/big": big,  # a list: the whole response in one frame
    "/big-validated": validator(big),  # an iterator: streamed
    "/head": validator(head),
    "/204": validator(status204),
    "/order": order,  # a list: one COMPLETE frame
    "/hop": hop,
    "/threads": validator(threads),
    "/errors": validator(errors_stream),
    "/grow": validator(grow),
    "/barrier": validator(barrier),
    "/bad/status": bad_status,
    "/bad/status-int": bad_status_int,
    "/bad/body-str": bad_body_str,
    "/bad/header-crlf": bad_header_crlf,
    "/bad/header-name": bad_header_name,
    "/bad/header-latin1": bad_header_latin1,
    "/bad/raise-before": raise_before,
    "/bad/raise-after": raise_after,
    "/bad/no-start-response": no_start_response,
    "/bad/second-start-response": second_start_response,
    "/bad/exit": exit_process,
}


def application(environ, start_response):
    path = environ["PATH_INFO"]
    route = ROUTES.get(path) or (echo_environ if path.startswith("/environ") else None)
    if route is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no route " + environ["PATH_INFO"].encode("latin-1") + b"\n"]
    return route(environ, start_response)


def create_app(greeting="hello"):
    """A factory, for "conformance:create_app('hi')"."""

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [greeting.encode() + b"\n"]

    return app
