"""arbiter's WSGI runner: a PEP 3333 server for one app process.

The arbiter worker (Go) does the networking: it reads whole requests from the
clients, turns each into a WSGI environ, and sends it here over a unix socket
it created; it takes the response back as fast as the app makes it and sends
it to the client itself. This file needs nothing but the standard library of
Python 3.9 or newer. docs/wsgi.md describes the framing; in short, every
message is a frame of one type byte, a little-endian u32 length, and that many
bytes of payload.

The worker starts this file as `python /proc/self/fd/3 ...` with its settings
in the environment variable ARBITER_WSGI (JSON), in one of three modes:

  serve   import the app, say READY on the first socket, then answer requests
          on each socket in a thread of its own until the worker closes it.
  zygote  import the app once, then fork a serving process each time the
          worker asks over the control socket (preload = true).
  check   import the app, print what was found as JSON, and exit (arbiter
          check).

Edges: end of file on a request socket means the worker retires this process:
the thread ends, and with the first socket's the process exits. The process
ignores the signals meant for the arbiter (TERM, INT, QUIT, HUP, ...): the Go
worker decides when it stops, after the requests in flight. SIGUSR2 writes the
traceback of every thread to the dump pipe, followed by the byte 0x0c; the
worker sends it before killing a request that ran past request_timeout.
"""

import sys

if sys.version_info < (3, 9):
    sys.stderr.write(
        "arbiter: the WSGI runner needs Python 3.9 or newer; %s is %s\n"
        % (sys.executable, sys.version.split()[0])
    )
    sys.exit(4)

import ast
import faulthandler
import gc
import importlib
import io
import json
import os
import re
import select
import signal
import socket
import stat
import struct
import threading
import traceback

# Frame types. Worker to app process:
REQUEST = 0x52  # 'R' u32 environ length, environ block, then the body inline
REQUEST_FILE = 0x46  # 'F' as REQUEST without the body: the attached fd holds it
ABORT = 0x41  # 'A' the client went away: stop the response
SPAWN = 0x4E  # 'N' zygote: fork a serving process with the attached fds
# App process to worker:
READY = 0x59  # 'Y' JSON {"pid", "python"}: imported, serving
BOOT_ERROR = 0x5A  # 'Z' JSON {"error", "traceback"}: the app did not load
HEADERS = 0x48  # 'H' status NUL name NUL value NUL ... (latin-1)
BODY = 0x42  # 'B' body bytes
SENDFILE = 0x53  # 'S' <qq offset, count; the attached fd holds the body
COMPLETE = 0x43  # 'C' u32 header block length, header block, the whole body
END = 0x45  # 'E' one byte: END_OK, END_ABORT (cut the response), END_FAILED (500)
LOG = 0x4C  # 'L' one level byte, then UTF-8 text
SPAWNED = 0x50  # 'P' zygote: JSON {"pid", "index"}
EXITED = 0x57  # 'W' zygote: JSON {"pid", "status"} (a wait status)

END_OK, END_ABORT, END_FAILED = 0, 1, 2
LOG_INFO, LOG_WARN, LOG_ERROR = 1, 2, 3

HDR = struct.Struct("<BI")
U32 = struct.Struct("<I")
OFFSETS = struct.Struct("<qq")
END_FRAMES = [HDR.pack(END, 1) + bytes([code]) for code in (END_OK, END_ABORT, END_FAILED)]
MAX_FDS = 256
ANCBUF = socket.CMSG_SPACE(MAX_FDS * 4)
DUMP_SIGNAL = signal.SIGUSR2

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_STATUS = re.compile(r"[1-9][0-9][0-9](?: [^\x00-\x08\x0a-\x1f\x7f]*)?\Z")


class ProtocolError(Exception):
    """The worker sent something this runner does not understand."""


class AppLoadError(Exception):
    """The module spec names nothing callable."""


class Conn:
    """One unix stream socket to the worker, read in frames.

    File descriptors arrive with the frame they belong to; they are queued in
    arrival order and taken by the frame that needs one.
    """

    __slots__ = ("sock", "buf", "view", "start", "end", "fds", "poller")

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray(65536)
        self.view = memoryview(self.buf)
        self.start = 0
        self.end = 0
        self.fds = []
        self.poller = None

    def _fill(self, need):
        """Reads until need bytes are buffered; EOFError at end of file."""
        if self.start == self.end:
            self.start = self.end = 0
        elif len(self.buf) - self.start < need:
            n = self.end - self.start
            if need > len(self.buf):
                nb = bytearray(max(need, 2 * len(self.buf)))
                nb[:n] = self.view[self.start:self.end]
                self.buf = nb
                self.view = memoryview(nb)
            else:
                self.buf[:n] = self.view[self.start:self.end]
            self.start, self.end = 0, n
        while self.end - self.start < need:
            n, anc, _flags, _addr = self.sock.recvmsg_into([self.view[self.end:]], ANCBUF)
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    self.fds.extend(struct.unpack("%di" % (len(data) // 4), data[: len(data) - len(data) % 4]))
            if n == 0:
                raise EOFError
            self.end += n

    def read(self):
        """Returns (type, payload bytes) of the next frame."""
        if self.end - self.start < 5:
            self._fill(5)
        kind, n = HDR.unpack_from(self.buf, self.start)
        if self.end - self.start < 5 + n:
            self._fill(5 + n)
        s = self.start + 5
        self.start = s + n
        return kind, bytes(self.view[s : s + n])

    def take_fd(self):
        if not self.fds:
            raise ProtocolError("a frame that carries a file descriptor came without one")
        return self.fds.pop(0)

    def pending_abort(self):
        """Reports, without blocking, whether the worker asked to stop the
        response (or went away)."""
        if self.start < self.end:
            kind = self.buf[self.start]
        else:
            if self.poller is None:
                self.poller = select.poll()
                self.poller.register(self.sock, select.POLLIN)
            if not self.poller.poll(0):
                return False
            try:
                self._fill(1)
            except EOFError:
                return True
            kind = self.buf[self.start]
        if kind != ABORT:
            raise ProtocolError("frame type 0x%02x while a response is being sent" % kind)
        self.read()
        return True

    def send(self, *parts, fd=None):
        data = b"".join(parts) if len(parts) > 1 else parts[0]
        if fd is None:
            self.sock.sendall(data)
            return
        sent = socket.send_fds(self.sock, [data], [fd])
        if sent < len(data):
            self.sock.sendall(memoryview(data)[sent:])

    def log(self, level, text):
        b = text.encode("utf-8", "replace")
        self.send(HDR.pack(LOG, len(b) + 1), bytes([level]), b)


def frame(kind, payload):
    return HDR.pack(kind, len(payload)) + payload


def json_frame(kind, obj):
    return frame(kind, json.dumps(obj).encode())


class FileWrapper:
    """wsgi.file_wrapper. Returned by an app for a real file, it lets the
    worker send the file itself (sendfile); for anything else it iterates
    blocks of blksize bytes."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


def as_bytes(chunk):
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError("the app's response body must be bytes, got %s: %.60r" % (type(chunk).__name__, chunk))


class Response:
    """One request's start_response, write and the sending of its body."""

    __slots__ = ("conn", "status", "block", "sent", "pending", "aborted")

    def __init__(self, conn):
        self.conn = conn
        self.status = None  # set by start_response
        self.block = None  # the HEADERS payload, encoded
        self.sent = False  # HEADERS went out
        self.pending = None  # a whole body (a list result), sent with END
        self.aborted = False

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called a second time without exc_info")
        if type(status) is not str:
            raise TypeError("status must be a str like '200 OK', got %s: %.60r" % (type(status).__name__, status))
        if not _STATUS.match(status) or status < "2":
            raise ValueError("status must be three digits from 200 to 999 and a reason, like '200 OK'; got %.60r" % status)
        if type(headers) is not list and type(headers) is not tuple:
            raise TypeError("headers must be a list of (name, value) tuples, got %s" % type(headers).__name__)
        parts = [status]
        for h in headers:
            if type(h) is not tuple or len(h) != 2:
                raise TypeError("each header must be a (name, value) tuple, got %.60r" % (h,))
            name, value = h
            if type(name) is not str or not _TOKEN.match(name):
                raise ValueError("header name %.60r is not an HTTP token (a str of letters, digits and !#$%%&'*+-.^_`|~)" % (name,))
            if type(value) is not str:
                raise TypeError("the value of header %s must be a str, got %s" % (name, type(value).__name__))
            if _BAD_VALUE.search(value):
                raise ValueError("the value of header %s has a control character (CR, LF, NUL, ...): %.60r" % (name, value))
            parts.append(name)
            parts.append(value)
        try:
            block = "\0".join(parts).encode("latin-1")
        except UnicodeEncodeError as e:
            raise ValueError("status and headers must be latin-1 strings (PEP 3333): %s" % e) from None
        self.status = status
        self.block = block
        return self.write

    def _headers(self):
        if self.status is None:
            raise AssertionError("the app sent a body before calling start_response")
        self.sent = True
        return frame(HEADERS, self.block)

    def write(self, data):
        """The write() callable start_response returns: the data is sent
        before it returns."""
        data = as_bytes(data)
        if self.pending is not None:
            raise AssertionError("write() after the app returned")
        if not data:
            return
        if self.sent:
            self.conn.send(HDR.pack(BODY, len(data)), data)
        else:
            self.conn.send(self._headers(), HDR.pack(BODY, len(data)), data)

    def consume(self, result):
        """Sends the body the app returned, or keeps it for end() when it is
        a list (the whole response then leaves in one write)."""
        t = type(result)
        if t is list or t is tuple:
            try:
                self.pending = b"".join(result) if result else b""
            except TypeError:
                for chunk in result:
                    as_bytes(chunk)  # raises the clearer error
                raise
            return
        if t is FileWrapper and self.sendfile(result):
            return
        conn = self.conn
        for chunk in result:
            if type(chunk) is not bytes:
                chunk = as_bytes(chunk)
            if not chunk:
                continue
            if self.sent:
                conn.send(HDR.pack(BODY, len(chunk)), chunk)
            else:
                conn.send(self._headers(), HDR.pack(BODY, len(chunk)), chunk)
            if conn.pending_abort():
                self.aborted = True
                return

    def sendfile(self, wrapper):
        """Hands the file under a FileWrapper to the worker, if it is a real
        one: the worker sends it and this process is free at once."""
        f = wrapper.filelike
        try:
            fd = f.fileno()
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
                return False  # a pipe, a socket, or /proc and /sys, whose sizes are 0
            offset = f.tell()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return False
        head = b"" if self.sent else self._headers()
        self.conn.send(head + frame(SENDFILE, OFFSETS.pack(offset, -1)), fd=fd)
        return True

    def end(self):
        """Sends what is left: a whole response in one COMPLETE frame when
        nothing was sent yet, else the last body bytes and END."""
        body = self.pending
        if self.sent:
            code = END_FRAMES[END_ABORT if self.aborted else END_OK]
            if body:
                self.conn.send(HDR.pack(BODY, len(body)), body, code)
            else:
                self.conn.send(code)
            return
        if self.status is None:
            raise AssertionError("the app returned without calling start_response")
        self.sent = True
        block = self.block
        if body:
            self.conn.send(HDR.pack(COMPLETE, 4 + len(block) + len(body)), U32.pack(len(block)), block, body)
        else:
            self.conn.send(HDR.pack(COMPLETE, 4 + len(block)), U32.pack(len(block)), block)

    def fail(self):
        """Ends a response whose app raised: the worker answers 500, or cuts
        the connection when the headers are already out."""
        self.conn.send(END_FRAMES[END_ABORT if self.sent else END_FAILED])


class Server:
    """What every thread of a serving process shares."""

    def __init__(self, app, cfg):
        self.app = app
        self.base = {
            "wsgi.version": (1, 0),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": cfg.get("threads", 1) > 1,
            "wsgi.multiprocess": bool(cfg.get("multiprocess")),
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
        }

    def serve(self, conn):
        """Answers requests on conn until the worker closes it."""
        app = self.app
        base = self.base
        read = conn.read
        while True:
            try:
                kind, payload = read()
            except EOFError:
                return
            if kind == ABORT:
                continue  # for a response that had ended already
            if kind != REQUEST and kind != REQUEST_FILE:
                raise ProtocolError("unexpected frame type 0x%02x" % kind)
            n = U32.unpack_from(payload)[0]
            items = payload[4 : 4 + n].decode("latin-1").split("\0")
            environ = dict(zip(items[::2], items[1::2]))
            environ.update(base)
            if kind == REQUEST:
                body = io.BytesIO(payload[4 + n :])
            else:
                body = open(conn.take_fd(), "rb")
            environ["wsgi.input"] = body
            try:
                self.handle(conn, app, environ)
            finally:
                body.close()

    def handle(self, conn, app, environ):
        resp = Response(conn)
        result = None
        failure = None
        try:
            result = app(environ, resp.start_response)
            resp.consume(result)
        except BaseException:
            failure = sys.exc_info()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException:
                    if failure is None:
                        failure = sys.exc_info()
        if failure is None:
            try:
                resp.end()
                return
            except (TypeError, ValueError, AssertionError):
                failure = sys.exc_info()
        if failure[0] is ProtocolError:
            raise failure[1]  # the worker's, not the app's: this process ends
        where = "%s %s" % (environ.get("REQUEST_METHOD", "?"), environ.get("RAW_URI") or environ.get("PATH_INFO", ""))
        what = "after the response headers were sent" if resp.sent else "before the response headers were sent"
        conn.log(LOG_ERROR, "app raised %s handling %s\n%s" % (what, where, "".join(traceback.format_exception(*failure)).rstrip()))
        resp.fail()
        if not issubclass(failure[0], Exception):
            raise failure[1]  # SystemExit, KeyboardInterrupt: this process ends


def load_app(spec):
    """Imports the app gunicorn's way: "module:callable", "module" (the
    callable is "application"), or "module:factory(literal args)"."""
    module, _, expr = spec.partition(":")
    expr = expr.strip() or "application"
    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        raise AppLoadError("%r is not a name or a call of one, in %r" % (expr, spec)) from None
    call = isinstance(node, ast.Call)
    args, kwargs = [], {}
    if call:
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError:
            raise AppLoadError("the arguments of %r must be literals (strings, numbers, ...)" % expr) from None
        node = node.func
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise AppLoadError("%r is not a name or a call of one, in %r" % (expr, spec))
    names.append(node.id)
    obj = importlib.import_module(module)
    path = module
    for name in reversed(names):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise AppLoadError("%s has no attribute %r (from %r)" % (path, name, spec)) from None
        path += "." + name if path != module else ":" + name
    if call:
        obj = obj(*args, **kwargs)
        if obj is None:
            raise AppLoadError("factory %r returned None" % expr)
    if not callable(obj):
        raise AppLoadError("%s is not callable: %r" % (spec, obj))
    return obj


def setup_path(cfg):
    # The working directory instead of this file's (/proc/self/fd), first,
    # as gunicorn puts its chdir.
    sys.path[:] = [p for p in sys.path if p != "/proc/self/fd"]
    sys.path.insert(0, os.getcwd())
    for p in reversed(cfg.get("pythonpath") or []):
        sys.path.insert(0, p)


def boot_error():
    """The exception that stopped the import, and its traceback without the
    runner's and importlib's frames (empty when only those are left: the
    module was not found at all)."""
    exc_type, exc, tb = sys.exc_info()
    frames = [f for f in traceback.extract_tb(tb)
              if f.filename != __file__ and not f.filename.startswith("<frozen importlib")
              and not f.filename.endswith(os.sep + os.path.join("importlib", "__init__.py"))]
    text = ""
    if frames:
        text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
        text += "".join(traceback.format_exception_only(exc_type, exc))
    return {
        "error": "".join(traceback.format_exception_only(exc_type, exc)).strip(),
        "traceback": text.rstrip(),
    }


def quiet_signals(dump_fd):
    """A serving process leaves stopping to its worker, and dumps its threads
    on SIGUSR2, followed by one 0x0c byte, to dump_fd."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGWINCH, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(s, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    faulthandler.enable(file=sys.__stderr__, all_threads=True)
    if dump_fd >= 0:
        os.set_blocking(dump_fd, False)
        signal.signal(DUMP_SIGNAL, lambda signum, frame: None)
        # Python's own handler writes the signal number to the wakeup fd;
        # faulthandler's runs first and chains to it: the byte ends the dump.
        signal.set_wakeup_fd(dump_fd, warn_on_full_buffer=False)
        faulthandler.register(DUMP_SIGNAL, file=dump_fd, all_threads=True, chain=True)


def serve_process(app, cfg, dump_fd, slot_fds):
    quiet_signals(dump_fd)
    conns = [Conn(socket.socket(fileno=fd)) for fd in slot_fds]
    server = Server(app, cfg)
    conns[0].send(json_frame(READY, {"pid": os.getpid(), "python": sys.version.split()[0]}))
    for c in conns[1:]:
        threading.Thread(target=run_slot, args=(server, c), daemon=True).start()
    run_slot(server, conns[0])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_slot(server, conn):
    try:
        server.serve(conn)
    except BaseException as e:
        if isinstance(e, ProtocolError):
            what = "protocol error from the worker: %s" % e
        elif isinstance(e, OSError):
            what = "the worker's socket failed: %s" % e
        else:
            what = "the app ended the process: %s" % "".join(traceback.format_exception_only(type(e), e)).strip()
        try:
            sys.stderr.write("arbiter-wsgi[%d]: %s\n" % (os.getpid(), what))
            sys.stderr.flush()
        finally:
            os._exit(1 if not isinstance(e, SystemExit) else (e.code if isinstance(e.code, int) else 1))
    # End of file: the worker retires this process (or is gone).
    if threading.current_thread() is threading.main_thread():
        return
    conn.sock.close()


def set_pdeathsig():
    """Asks the kernel to kill this process when its parent dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass  # the worker's sockets closing still ends this process


def zygote(app, cfg, ctl_fd):
    """Forks a serving process for each SPAWN; reports SPAWNED and EXITED."""
    ctl = Conn(socket.socket(fileno=ctl_fd))
    me = os.getpid()
    if threading.active_count() > 1:
        ctl.log(LOG_WARN, "the app started %d threads while it was imported; forked processes get none of them (preload)" % (threading.active_count() - 1))
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(s, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    gc.freeze()  # what the import made stays shared with the children
    ctl.send(json_frame(READY, {"pid": me, "python": sys.version.split()[0]}))
    poller = select.poll()
    poller.register(ctl.sock, select.POLLIN)
    poller.register(rfd, select.POLLIN)
    while True:
        for fd, _ev in poller.poll():
            if fd == rfd:
                os.read(rfd, 4096)
                reap(ctl)
                continue
            try:
                kind, payload = ctl.read()
            except EOFError:
                os._exit(0)  # the worker is done; the children die with us
            if kind != SPAWN:
                raise ProtocolError("unexpected frame type 0x%02x on the zygote's socket" % kind)
            req = json.loads(payload)
            fds = [ctl.take_fd() for _ in range(req["fds"])]
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    signal.set_wakeup_fd(-1)
                    os.close(rfd)
                    os.close(wfd)
                    ctl.sock.close()
                    for fd in ctl.fds:
                        os.close(fd)
                    set_pdeathsig()
                    if os.getppid() != me:
                        os._exit(1)
                    stderr_fd, dump_fd = fds[0], fds[1]
                    os.dup2(stderr_fd, 1)
                    os.dup2(stderr_fd, 2)
                    os.close(stderr_fd)
                    serve_process(app, cfg, dump_fd, fds[2:])
                finally:
                    os._exit(1)
            for fd in fds:
                os.close(fd)
            ctl.send(json_frame(SPAWNED, {"pid": pid, "index": req.get("index", 0)}))
        reap(ctl)


def reap(ctl):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        ctl.send(json_frame(EXITED, {"pid": pid, "status": status}))


def sched_batch():
    """Puts this process under SCHED_BATCH before it imports the app, so that
    every thread it starts has the policy too (a zygote's children inherit
    it): a thread the worker wakes with a request then waits for the worker
    to block instead of preempting it, and the worker serves the requests it
    has in hand first. Its share of the CPU is unchanged."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError) as e:
        sys.stderr.write("arbiter-wsgi[%d]: cannot use SCHED_BATCH, serving without it: %s\n" % (os.getpid(), e))
        sys.stderr.flush()


def main():
    cfg = json.loads(os.environ.pop("ARBITER_WSGI"))
    mode = cfg["mode"]
    if cfg.get("sched_batch") and mode != "check":
        sched_batch()
    setup_path(cfg)
    out = cfg.get("ctl", -1) if mode == "zygote" else (cfg["slots"][0] if mode == "serve" else -1)
    try:
        app = load_app(cfg["module"])
    except BaseException:
        err = boot_error()
        if mode == "check":
            print(json.dumps(err))
        else:
            Conn(socket.socket(fileno=out)).send(json_frame(BOOT_ERROR, err))
        sys.exit(4)
    if mode == "check":
        print(json.dumps({"python": sys.version.split()[0], "executable": sys.executable, "app": repr(app)}))
        return
    if mode == "zygote":
        zygote(app, cfg, out)
    else:
        serve_process(app, cfg, cfg["dump"], cfg["slots"])


if __name__ == "__main__":
    main()
