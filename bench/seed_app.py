"""A stand-in for the seed service, for comparison only: the Flask + gunicorn + Redis tutorial app that this
component replaces, rewritten here with the same behaviour so that bench.py can run it under gunicorn on the
same redis-server as the component. Not part of the component and not deployed anywhere.

`GET /` answers a welcome line; `GET /count` runs INCR on REDIS_KEY (default `visits`) at REDIS_HOST:REDIS_PORT
and answers the new count.
"""

import os

import redis
from flask import Flask

app = Flask(__name__)
cache = redis.Redis(host=os.environ.get("REDIS_HOST", "localhost"), port=int(os.environ.get("REDIS_PORT", "6379")))
key = os.environ.get("REDIS_KEY", "visits")


@app.route("/")
def welcome():
    return "Welcome! Go to /count to increment the visit counter."


@app.route("/count")
def count():
    return f"Visit count: {cache.incr(key)}"
