#!/usr/bin/env python3
"""The article's cgi_application.py, served by arbiter's cgi app.

The image comes in the request body, CONTENT_LENGTH bytes on stdin, and goes
out resized to 800x800 as a PNG with CGI variables drawn on it in black. The
body is either the raw image (the article's CGI server passed it so) or a
multipart/form-data form with the image in the field image_data (what the
article's client sends, so examples/imageresize/client.py works here too):

  curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' \\
       -o resized.png http://127.0.0.1:8088/cgi-bin/cgi_application.py
  python3 examples/imageresize/client.py http://127.0.0.1:8088/cgi-bin/cgi_application.py

Unlike the article's script, it writes a CGI header block before the PNG, and
answers bad input with a Status line (400, 405, 411, 413) and a message.
Needs Pillow (Debian: python3-pil).
"""
import email.parser
import email.policy
import os
import sys
import warnings
from io import BytesIO

from PIL import Image, ImageDraw

MAX_UPLOAD = 20 << 20          # bytes of request body
MAX_PIXELS = 25_000_000        # pixels of the decoded image

# The article's list, then a few more arbiter sets.
CGI_HEADERS = [
    "SERVER_SOFTWARE", "SERVER_NAME", "GATEWAY_INTERFACE",
    "SERVER_PROTOCOL", "SERVER_PORT", "REQUEST_METHOD",
    "QUERY_STRING", "SCRIPT_NAME", "REMOTE_HOST",
    "CONTENT_TYPE", "CONTENT_LENGTH",
    "PATH_INFO", "REQUEST_URI", "REMOTE_ADDR", "SCRIPT_FILENAME",
]


def answer(status, message, extra=""):
    """Writes a plain-text response with a Status line and exits."""
    sys.stdout.write(f"Status: {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     f"{extra}\r\ncgi_application.py: {message}\n")
    sys.exit(0)


def form_field(content_type, body, name):
    """Returns the bytes of the multipart form field name, or None."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        return None
    for part in msg.iter_parts():
        if part.get_param("name", header="content-disposition") == name:
            return part.get_payload(decode=True) or b""
    return None


def read_image():
    """Returns the uploaded image's bytes, or answers 4xx."""
    if os.environ.get("REQUEST_METHOD") != "POST":
        answer("405 Method Not Allowed", "POST an image, or a form with the field image_data",
               "Allow: POST\r\n")
    length = os.environ.get("CONTENT_LENGTH", "")
    if not length.isdigit():
        answer("411 Length Required", "no CONTENT_LENGTH")
    if int(length) > MAX_UPLOAD:
        answer("413 Content Too Large", f"the upload is {length} bytes; the limit is {MAX_UPLOAD}")
    body = sys.stdin.buffer.read(int(length))
    content_type = os.environ.get("CONTENT_TYPE", "")
    if content_type.lower().startswith("multipart/form-data"):
        body = form_field(content_type, body, "image_data")
        if body is None:
            answer("400 Bad Request", "the form has no field image_data")
    if not body:
        answer("400 Bad Request", "no image in the request body")
    return body


if __name__ == '__main__':
    image_data = read_image()
    header_output = '\n'.join(f'{x}: {os.environ.get(x, "")}' for x in CGI_HEADERS)
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    try:
        with Image.open(BytesIO(image_data)) as im:
            resized_image = im.convert('RGB').resize((800, 800))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        answer("413 Content Too Large", f"the image is too large: {e}")
    except Image.UnidentifiedImageError:
        answer("400 Bad Request", "not an image in a format Pillow reads")
    except (OSError, ValueError, SyntaxError) as e:  # what Pillow raises for a bad or truncated image
        answer("400 Bad Request", f"not a readable image: {e}")
    draw = ImageDraw.Draw(resized_image)
    draw.multiline_text((10, 10), header_output, fill="black")
    out = BytesIO()
    resized_image.save(out, 'png')
    sys.stdout.buffer.write(b"Content-Type: image/png\r\nContent-Length: %d\r\n\r\n" % out.tell())
    sys.stdout.buffer.write(out.getvalue())
    # The response is complete: end it now rather than when the interpreter
    # has finished shutting down, so a client that hangs up as soon as it
    # has the image does not see the script cut off.
    sys.stdout.close()
