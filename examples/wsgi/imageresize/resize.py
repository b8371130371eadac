"""The image-resize app of "Python Application Deployment: Protocols" as WSGI.

The article's servers (CGI, FastCGI, SCGI, uwsgi) each parse a protocol and
then do the same thing: take the PNG a client posts as the multipart field
image_data, resize it to 800x800 and draw the request's CGI variables on it
in black. Here that part is a plain WSGI callable, `application`, and
arbiter speaks the protocols (app.toml mounts it at /resize):

    curl -F image_data=@photo.jpg -o resized.png http://127.0.0.1:8000/resize/
    python3 examples/imageresize/client.py http://127.0.0.1:8000/resize/

GET (or HEAD) answers an upload form. Every refusal is a plain-text answer
that says what was wrong: 400 for a body that is not multipart/form-data,
has no or an empty image_data, or holds no readable image; 413 for an image
over MAX_PIXELS by its header (arbiter's max_body_size refuses a body over
20 MiB with 413 before it reaches Python); 405 for other methods.

The standard library and Pillow only (Debian: python3-pil); the multipart
body is parsed with email.parser, fed as it is read (the cgi module is
deprecated since Python 3.11).
"""
import email.parser
import email.policy
import html
import os
import warnings
from io import BytesIO

from PIL import Image, ImageDraw

MAX_PIXELS = 25_000_000      # of the decoded image; Pillow checks its header
CHUNK = 64 << 10             # bytes read from wsgi.input at a time
FIELD = "image_data"         # the form field of the article's client

# Pillow refuses an image over twice MAX_IMAGE_PIXELS and only warns over
# it: make the warning an error too. This process is the app's alone, so the
# filter is set once, here, rather than around each request (warnings'
# filters are not thread-safe).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.simplefilter("error", Image.DecompressionBombWarning)

# Variables left off the image: they may carry credentials.
SECRET = {"HTTP_AUTHORIZATION", "HTTP_COOKIE"}

FORM = """<!doctype html>
<meta charset="utf-8">
<title>Image resize</title>
<h1>Image resize</h1>
<p>Any image Pillow reads comes back as an 800&times;800 PNG with the request's
CGI variables on it.
<form method="post" action="{action}" enctype="multipart/form-data">
<p><input type="file" name="image_data" accept="image/*"> <button>Resize</button>
</form>
"""


class Refused(Exception):
    """A request the app answers with status and a plain-text message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def application(environ, start_response):
    """Answers GET with the form and POST with the resized image."""
    method = environ["REQUEST_METHOD"]
    if method in ("GET", "HEAD"):
        action = html.escape(environ.get("SCRIPT_NAME", "") + "/", quote=True)
        body = FORM.format(action=action).encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    try:
        if method != "POST":
            raise Refused("405 Method Not Allowed", "GET the form, POST an image")
        png = resize(upload(environ), caption(environ))
    except Refused as e:
        body = f"resize.py: {e}\n".encode()
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        if e.status.startswith("405"):
            headers.append(("Allow", "GET, HEAD, POST"))
        start_response(e.status, headers)
        return [body]
    start_response("200 OK", [("Content-Type", "image/png"), ("Content-Length", str(len(png)))])
    return [png]


def upload(environ):
    """Returns the bytes of the form's image_data field, or raises Refused."""
    content_type = environ.get("CONTENT_TYPE", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise Refused("400 Bad Request",
                      f"want multipart/form-data with the image in the field {FIELD}, "
                      f"got Content-Type {content_type!r}")
    parser = email.parser.BytesFeedParser(policy=email.policy.HTTP)
    parser.feed(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n")
    left = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    while left > 0:
        chunk = stream.read(min(left, CHUNK))
        if not chunk:
            break
        parser.feed(chunk)
        left -= len(chunk)
    msg = parser.close()
    if msg.is_multipart():
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == FIELD:
                data = part.get_payload(decode=True)
                if not data:
                    raise Refused("400 Bad Request", f"the field {FIELD} is empty")
                return data
    raise Refused("400 Bad Request", f"the form has no field {FIELD}")


def caption(environ):
    """The text drawn on the image: the app process, then the CGI variables,
    sorted, one a line (environ's upper-case keys; wsgi.* are Python objects)."""
    lines = [f"arbiter WSGI app process {os.getpid()}, {environ['wsgi.url_scheme']}"]
    for key in sorted(environ):
        if key.isupper() and key not in SECRET and isinstance(environ[key], str):
            lines.append(f"{key}: {environ[key]}")
    return "\n".join(lines)


def resize(data, text):
    """Returns data, an image, as an 800x800 PNG with text drawn on it."""
    try:
        with Image.open(BytesIO(data)) as im:
            resized = im.convert("RGB").resize((800, 800))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise Refused("413 Content Too Large", f"the image is too large: {e}") from None
    except Image.UnidentifiedImageError:
        raise Refused("400 Bad Request", "not an image in a format Pillow reads") from None
    except (OSError, ValueError, SyntaxError) as e:  # a bad or truncated image
        raise Refused("400 Bad Request", f"not a readable image: {e}") from None
    ImageDraw.Draw(resized).multiline_text((10, 10), text, fill="black")
    out = BytesIO()
    resized.save(out, "png")
    return out.getvalue()
