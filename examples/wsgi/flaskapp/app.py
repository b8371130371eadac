"""A small Flask app served by arbiter's wsgi app type (examples/wsgi).

app.toml names it as gunicorn would, a factory called in each app process:

    [app]
    type = "wsgi"
    module = "app:create_app()"
    pythonpath = ["flaskapp"]

Routes:

    GET  /          an HTML page with links and the form below
    GET  /info      JSON: how this request reached the app (SCRIPT_NAME,
                    PATH_INFO, REMOTE_ADDR, wsgi.url_scheme, SERVER_PORT: the
                    port the client connected to, nginx's behind nginx) and
                    the pid and thread of the app process that answered
    POST /greet     the form (application/x-www-form-urlencoded, field
                    "name"): 200 with a greeting, 400 without a name

GREETING in the environment (app.toml's [app.env]) sets the greeting's word;
"Hello" without it. Everything echoed into HTML is escaped by Jinja.
"""
import os
import threading

from flask import Flask, jsonify, render_template, request, url_for


def create_app():
    """Returns the app; arbiter calls this once in each app process."""
    app = Flask(__name__)
    app.config["GREETING"] = os.environ.get("GREETING", "Hello")
    # Flask's own limit, for the form; arbiter's max_body_size answers 413
    # before a larger body reaches Python at all.
    app.config["MAX_CONTENT_LENGTH"] = 64 << 10

    @app.context_processor
    def process():
        return {"pid": os.getpid()}

    @app.get("/")
    def index():
        return render_template("index.html", greeting=app.config["GREETING"], name=None)

    @app.get("/info")
    def info():
        env = request.environ
        return jsonify(
            script_name=env.get("SCRIPT_NAME"),
            path_info=env.get("PATH_INFO"),
            query_string=env.get("QUERY_STRING"),
            remote_addr=env.get("REMOTE_ADDR"),
            server_name=env.get("SERVER_NAME"),
            server_port=env.get("SERVER_PORT"),
            server_software=env.get("SERVER_SOFTWARE"),
            url_scheme=env.get("wsgi.url_scheme"),
            multiprocess=env.get("wsgi.multiprocess"),
            multithread=env.get("wsgi.multithread"),
            url=request.url,
            index_url=url_for("index", _external=True),
            pid=os.getpid(),
            thread=threading.current_thread().name,
        )

    @app.post("/greet")
    def greet():
        name = request.form.get("name", "").strip()
        if not name:
            return render_template("index.html", greeting=app.config["GREETING"], name=None,
                                   error="Your name, please."), 400
        return render_template("index.html", greeting=app.config["GREETING"], name=name)

    return app
