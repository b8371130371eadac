"""A small Flask app for the tests and for bench-wsgi's Flask row."""

import os

from flask import Flask, Response, jsonify, request, send_file, stream_with_context, url_for

app = Flask(__name__)


@app.route("/")
def index():
    return "hello from flask"


@app.route("/hello/<name>")
def hello(name):
    return jsonify(greeting="hello " + name, pid=os.getpid())


@app.route("/json", methods=["POST"])
def echo_json():
    return jsonify(got=request.get_json(), script_root=request.script_root, path=request.path,
                   url=request.url, scheme=request.scheme)


@app.route("/form", methods=["POST"])
def form():
    files = {k: len(f.read()) for k, f in request.files.items()}
    return jsonify(form=request.form.to_dict(), files=files)


@app.route("/stream")
def stream():
    def gen():
        for i in range(3):
            yield "line %d\n" % i

    return Response(stream_with_context(gen()), mimetype="text/plain")


@app.route("/file")
def file():
    return send_file(request.args["path"], mimetype="application/octet-stream")


@app.route("/url")
def url():
    return url_for("hello", name="x", _external=True)


@app.route("/cookie")
def cookie():
    resp = Response("set")
    resp.set_cookie("a", "1")
    resp.set_cookie("b", "2")
    return resp


@app.route("/boom")
def boom():
    raise ValueError("flask view failed")
