"""The flask-jwt-extended 4.7.4 reference app for tests/compat_flask (the same routes and
conventions as tests/compat/app.py, with the library's own decorators), served by waitress.

Routes:
  POST /login                 {"username": "test", "password": "test"} -> fresh access + refresh token
  POST /fresh-login           {"username": "test", "password": "test"} -> fresh access token
  POST /refresh               @jwt_required(refresh=True)              -> new non-fresh access token
  GET  /protected             @jwt_required()
  GET  /protected-fresh       @jwt_required(fresh=True)
  GET  /partially-protected   @jwt_required(optional=True)             -> {"user": identity or "anonymous"}
The three protected routes also answer POST, PUT, PATCH and DELETE (the library's CSRF methods).
OPTIONS is Flask's automatic answer on every route (the library exempts OPTIONS anyway).
Protected routes answer {"user": <identity>}.

With cookies among the token locations, /login, /fresh-login and /refresh also set the tokens as
cookies (`set_access_cookies` / `set_refresh_cookies`), still returning them in the body.

Settings come from the environment (a variable that is unset or empty keeps the library's
default, except JWT_HEADER_TYPE, where an empty value means "no type word"):
  AUTHJWT_SECRET_KEY           (required) the HMAC secret (JWT_SECRET_KEY), named as the shared
                               harness (tests/compat/app.rs) sets it
  JWT_TOKEN_LOCATION           comma-separated: headers, cookies, query_string (in this order of
                               lookup); default headers
  JWT_COOKIE_CSRF_PROTECT      true/false (default true)
  JWT_ACCESS_CSRF_HEADER_NAME  default X-CSRF-TOKEN
  JWT_REFRESH_CSRF_HEADER_NAME default X-CSRF-TOKEN
  JWT_DECODE_ISSUER, JWT_ENCODE_ISSUER
  JWT_DECODE_AUDIENCE, JWT_ENCODE_AUDIENCE   a comma-separated value is a list
  JWT_DECODE_LEEWAY            seconds (integer)
  JWT_ERROR_MESSAGE_KEY        default msg
  JWT_HEADER_NAME              default Authorization
  JWT_HEADER_TYPE              default Bearer
  JWT_QUERY_STRING_NAME        default jwt
  COMPAT_REVOKED_JTIS          comma-separated jti values the app's `token_in_blocklist_loader`
                               reports as revoked (401 "Token has been revoked")
  COMPAT_EXIT_ON_STDIN_EOF     "1": exit when stdin closes, so the app never outlives the test
                               process that started it

Run: python app.py. The app binds 127.0.0.1 on a port the OS picks, prints that port alone on the
first line of stdout, then serves with waitress.
"""

import os
import socket
import sys
import threading
from typing import List, Optional, Union

from flask import Flask, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    get_jwt_identity,
    jwt_required,
    set_access_cookies,
    set_refresh_cookies,
)
from waitress import create_server

CSRF_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


def _env(name: str) -> Optional[str]:
    return os.environ.get(name) or None


def _list(value: str) -> Union[str, List[str]]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return parts[0] if len(parts) == 1 else parts


def _bool(name: str, value: str) -> bool:
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise SystemExit(f"{name} must be true or false, not {value!r}")


def _locations(value: str) -> List[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


# Each setting read from the environment, and how its text becomes the config value.
SETTINGS = {
    "JWT_TOKEN_LOCATION": _locations,
    "JWT_COOKIE_CSRF_PROTECT": lambda v: _bool("JWT_COOKIE_CSRF_PROTECT", v),
    "JWT_ACCESS_CSRF_HEADER_NAME": str,
    "JWT_REFRESH_CSRF_HEADER_NAME": str,
    "JWT_DECODE_ISSUER": str,
    "JWT_ENCODE_ISSUER": str,
    "JWT_DECODE_AUDIENCE": _list,
    "JWT_ENCODE_AUDIENCE": _list,
    "JWT_DECODE_LEEWAY": int,
    "JWT_ERROR_MESSAGE_KEY": str,
    "JWT_HEADER_NAME": str,
    "JWT_QUERY_STRING_NAME": str,
}


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["JWT_SECRET_KEY"] = os.environ["AUTHJWT_SECRET_KEY"]
    for name, parse in SETTINGS.items():
        value = _env(name)
        if value is not None:
            app.config[name] = parse(value)
    if "JWT_HEADER_TYPE" in os.environ:
        app.config["JWT_HEADER_TYPE"] = os.environ["JWT_HEADER_TYPE"]
    jwt = JWTManager(app)
    revoked = set(_locations(os.environ.get("COMPAT_REVOKED_JTIS", "")))

    @jwt.token_in_blocklist_loader
    def token_in_blocklist(_jwt_header, jwt_data) -> bool:
        return jwt_data["jti"] in revoked

    in_cookies = "cookies" in app.config.get("JWT_TOKEN_LOCATION", ["headers"])
    _routes(app, in_cookies)
    return app


def _credentials_ok() -> bool:
    body = request.get_json(silent=True) or {}
    return body.get("username") == "test" and body.get("password") == "test"


def _routes(app: Flask, in_cookies: bool) -> None:
    @app.post("/login")
    def login():
        if not _credentials_ok():
            return jsonify(msg="Bad username or password"), 401
        access_token = create_access_token(identity="test", fresh=True)
        refresh_token = create_refresh_token(identity="test")
        response = jsonify(access_token=access_token, refresh_token=refresh_token)
        if in_cookies:
            set_access_cookies(response, access_token)
            set_refresh_cookies(response, refresh_token)
        return response

    @app.post("/fresh-login")
    def fresh_login():
        if not _credentials_ok():
            return jsonify(msg="Bad username or password"), 401
        access_token = create_access_token(identity="test", fresh=True)
        response = jsonify(access_token=access_token)
        if in_cookies:
            set_access_cookies(response, access_token)
        return response

    @app.post("/refresh")
    @jwt_required(refresh=True)
    def refresh():
        access_token = create_access_token(identity=get_jwt_identity(), fresh=False)
        response = jsonify(access_token=access_token)
        if in_cookies:
            set_access_cookies(response, access_token)
        return response

    @app.route("/protected", methods=["GET", *CSRF_METHODS])
    @jwt_required()
    def protected():
        return jsonify(user=get_jwt_identity())

    @app.route("/protected-fresh", methods=["GET", *CSRF_METHODS])
    @jwt_required(fresh=True)
    def protected_fresh():
        return jsonify(user=get_jwt_identity())

    @app.route("/partially-protected", methods=["GET", *CSRF_METHODS])
    @jwt_required(optional=True)
    def partially_protected():
        return jsonify(user=get_jwt_identity() or "anonymous")


def _exit_on_stdin_eof() -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main() -> None:
    app = create_app()
    if os.environ.get("COMPAT_EXIT_ON_STDIN_EOF") == "1":
        threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening before the port is printed: a client that connects early waits in the backlog.
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    server = create_server(app, sockets=[sock], threads=4)
    server.run()


if __name__ == "__main__":
    main()
