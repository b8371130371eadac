"""bench-wsgi's floor: the CPU time of one request/response exchange between
two processes over a unix socketpair, nothing else (no HTTP, no app).

Every server in bench-wsgi whose app runs in a process of its own (arbiter's
worker and its Python processes) pays at least this per request on top of
what a server with the app in the same process (uWSGI) pays. Prints one
line: "<µs of CPU, both processes> <round trips>".
"""

import os
import resource
import socket
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
REQ, RESP = b"R" * 200, b"C" * 60  # about a hello request's frames

a, b = socket.socketpair()
pid = os.fork()
if pid == 0:
    a.close()
    for _ in range(N):
        b.recv(4096)
        b.send(RESP)
    os._exit(0)
b.close()
before = resource.getrusage(resource.RUSAGE_SELF)
for _ in range(N):
    a.send(REQ)
    a.recv(4096)
os.waitpid(pid, 0)
me, child = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (me.ru_utime - before.ru_utime) + (me.ru_stime - before.ru_stime) + child.ru_utime + child.ru_stime
print("%.1f %d" % (cpu / N * 1e6, N))
