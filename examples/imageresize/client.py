# The article's client (cgi_client.py / fcgi_client.py), unchanged but for the
# URL: nginx's FastCGI port by default, or the URL given as the argument:
#
#   python3 client.py                          # FastCGI, through nginx
#   python3 client.py http://127.0.0.1:9999/   # SCGI, through nginx
#   python3 client.py http://127.0.0.1:9898/   # uwsgi, through nginx
#   python3 client.py http://127.0.0.1:8087/   # HTTP, arbiter directly
#
# It writes image-resized.png in the current directory. Needs Debian's
# python3-requests and python3-pil (or pip's requests and Pillow).
import sys

import requests
from io import BytesIO
from PIL import Image

url = sys.argv[1] if len(sys.argv) > 1 else 'http://127.0.0.1:8888/'

img = Image.new('RGB', (400,400), "white")
img_bytes = BytesIO()
img.save(img_bytes, 'png')

multipart_data = {
    'image_data': ('blank-image.png', img_bytes.getbuffer(), 'image/png')
}

r = requests.post(url, files=multipart_data)
with open('image-resized.png', 'wb') as resized_image_fp:
    resized_image_fp.write(r.content)
