"""An app that starts a thread of its own while it is imported, as apps
with a metrics exporter or a cache refresher do."""

import threading

ready = threading.Event()


def _background():
    ready.set()
    threading.Event().wait()


threading.Thread(target=_background, name="background", daemon=True).start()
ready.wait()


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d threads\n" % threading.active_count()]
