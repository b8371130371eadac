#!/usr/bin/env python3
"""A form, the classic CGI way: a GET shows it, its POST is answered here.

  open http://127.0.0.1:8088/cgi-bin/form.py
  curl --data-urlencode 'name=Ada' --data-urlencode 'message=<hello>' \\
       http://127.0.0.1:8088/cgi-bin/form.py

The POST body is application/x-www-form-urlencoded, CONTENT_LENGTH bytes on
stdin (at most 64 KiB here: 413 beyond). Everything echoed is HTML-escaped.
A GET with a query string (form.py?name=Ada) is answered like a POST.
"""
import html
import os
import sys
from urllib.parse import parse_qs

MAX_BODY = 64 << 10

FORM = """<form method="post" action="{action}">
<p><label>Name <input name="name" value="{name}"></label>
<p><label>Message <textarea name="message">{message}</textarea></label>
<p><button>Send</button>
</form>"""


def respond(status, body):
    sys.stdout.write(f"Status: {status}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                     f"<!doctype html>\n<title>form.py</title>\n{body}\n")
    sys.exit(0)


def fields():
    """Returns the submitted fields, or None when nothing was submitted."""
    method = os.environ.get("REQUEST_METHOD", "GET")
    if method in ("GET", "HEAD"):
        query = os.environ.get("QUERY_STRING", "")
        return parse_qs(query) if query else None
    if method != "POST":
        respond("405 Method Not Allowed", "<p>GET the form, POST it back.")
    content_type = os.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        respond("415 Unsupported Media Type",
                f"<p>want application/x-www-form-urlencoded, got {html.escape(content_type)!s}")
    length = os.environ.get("CONTENT_LENGTH", "0")
    if not length.isdigit() or int(length) > MAX_BODY:
        respond("413 Content Too Large", f"<p>at most {MAX_BODY} bytes, please")
    body = sys.stdin.buffer.read(int(length)).decode("utf-8", "replace")
    return parse_qs(body)


if __name__ == "__main__":
    action = html.escape(os.environ.get("SCRIPT_NAME", ""), quote=True)
    got = fields()
    if got is None:
        respond("200 OK", "<h1>Say hello</h1>\n" + FORM.format(action=action, name="", message=""))
    name = got.get("name", [""])[0].strip()
    message = got.get("message", [""])[0]
    if not name:
        respond("400 Bad Request", "<h1>Your name, please</h1>\n" +
                FORM.format(action=action, name="", message=html.escape(message)))
    respond("200 OK", f"<h1>Hello, {html.escape(name)}</h1>\n"
                      f"<p>You wrote: <pre>{html.escape(message)}</pre>\n"
                      f"<p><a href=\"{action}\">Again</a>")
