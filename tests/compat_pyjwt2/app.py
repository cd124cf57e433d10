"""The async-fastapi-jwt-auth 0.6.6 (PyJWT 2.15.1) port of tests/compat/app.py, the reference for
the `fastapi-jwt-auth-pyjwt2` profile (tests/compat_pyjwt2).

The same routes, settings and conventions as tests/compat/app.py (fastapi-jwt-auth 0.5.0's
"fresh tokens" example plus the "partially protecting" one), written the way the fork documents
them: every library call is awaited, and the `AuthJWT` object comes from the fork's
`AuthJWTBearer()` dependency (its examples' `authorize: AuthJWT = Depends(auth_dep)`).

Routes:
  POST /login                 {"username": "test", "password": "test"} -> fresh access + refresh token
  POST /refresh               jwt_refresh_token_required()             -> new non-fresh access token
  POST /fresh-login           {"username": "test", "password": "test"} -> fresh access token
  GET  /protected             jwt_required()
  GET  /protected-fresh       fresh_jwt_required()
  GET  /partially-protected   jwt_optional()
The three protected routes also answer POST, PUT, PATCH and DELETE (the library's CSRF methods)
with the same check, so that the CSRF double submit can be exercised.

WebSocket endpoints, in the library's documented pattern (accept, check, then on success send
"Successfully Login!" and the subject, on AuthJWTException send err.message; then close):
  /ws/query/{access,fresh,optional,refresh}    jwt_*("websocket", token=token), token from ?token=
  /ws/cookies/{access,fresh,optional,refresh}  jwt_*("websocket", websocket=websocket,
                                               csrf_token=csrf_token), CSRF from ?csrf_token=

With cookies among the token locations, /login, /fresh-login and /refresh also set the tokens as
cookies themselves (`set_access_cookies` / `set_refresh_cookies`), still returning them in the
body as well.

Settings come from the environment, with the names tests/compat/app.py reads:
  AUTHJWT_SECRET_KEY        (required) the HMAC secret
  AUTHJWT_DECODE_ISSUER     (optional) issuer required on access tokens on jwt_required/fresh routes
  AUTHJWT_DECODE_AUDIENCE   (optional) accepted audience; a comma-separated value is a list
  AUTHJWT_ENCODE_ISSUER     (optional) `iss` written into access tokens
  COMPAT_TOKEN_AUDIENCE     (optional) `aud` this app writes into the tokens it issues (comma = list)
  AUTHJWT_TOKEN_LOCATION    (optional) comma-separated token locations: "headers" (the library's
                            default when unset), "cookies", or "headers,cookies"
  AUTHJWT_COOKIE_CSRF_PROTECT (optional) "true" (the default) or "false"
  COMPAT_EXIT_ON_STDIN_EOF  (optional) "1": exit when stdin closes

Run: python app.py. The app binds 127.0.0.1 on a port the OS picks, prints that port alone on the
first line of stdout, then serves.
"""

import os
import socket
import sys
import threading
from typing import List, Optional, Union

import uvicorn
from async_fastapi_jwt_auth import AuthJWT
from async_fastapi_jwt_auth.auth_jwt import AuthJWTBearer
from async_fastapi_jwt_auth.exceptions import AuthJWTException
from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel


def _env(name: str) -> Optional[str]:
    return os.environ.get(name) or None


def _audience(value: Optional[str]) -> Optional[Union[str, List[str]]]:
    if not value:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return parts[0] if len(parts) == 1 else parts


def _list(value: Optional[str]) -> Optional[List[str]]:
    if not value:
        return None
    return [p.strip() for p in value.split(",") if p.strip()]


def _bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise SystemExit(f"{name} must be true or false, not {value!r}")


TOKEN_AUDIENCE = _audience(_env("COMPAT_TOKEN_AUDIENCE"))
TOKEN_LOCATION = _list(_env("AUTHJWT_TOKEN_LOCATION"))
IN_COOKIES = TOKEN_LOCATION is not None and "cookies" in TOKEN_LOCATION
CSRF_METHODS = ["POST", "PUT", "PATCH", "DELETE"]

app = FastAPI()
auth_dep = AuthJWTBearer()


class User(BaseModel):
    username: str
    password: str


class Settings(BaseModel):
    authjwt_secret_key: str = os.environ["AUTHJWT_SECRET_KEY"]
    authjwt_decode_issuer: Optional[str] = _env("AUTHJWT_DECODE_ISSUER")
    authjwt_decode_audience: Optional[Union[str, List[str]]] = _audience(
        _env("AUTHJWT_DECODE_AUDIENCE")
    )
    authjwt_encode_issuer: Optional[str] = _env("AUTHJWT_ENCODE_ISSUER")


class CookieSettings(Settings):
    # Only set when AUTHJWT_TOKEN_LOCATION is: without it the library's defaults stay untouched.
    authjwt_token_location: List[str] = TOKEN_LOCATION or ["headers"]
    authjwt_cookie_csrf_protect: bool = _bool("AUTHJWT_COOKIE_CSRF_PROTECT", True)


@AuthJWT.load_config
def get_config():
    return CookieSettings() if TOKEN_LOCATION is not None else Settings()


# The documented handler: every library exception becomes {"detail": message} with its status.
@app.exception_handler(AuthJWTException)
def authjwt_exception_handler(request: Request, exc: AuthJWTException):
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.message})


def _check(user: User) -> None:
    if user.username != "test" or user.password != "test":
        raise HTTPException(status_code=401, detail="Bad username or password")


# Standard login endpoint: a fresh access token and a refresh token.
@app.post("/login")
async def login(user: User, authorize: AuthJWT = Depends(auth_dep)):
    _check(user)
    access_token = await authorize.create_access_token(
        subject=user.username, fresh=True, audience=TOKEN_AUDIENCE
    )
    refresh_token = await authorize.create_refresh_token(
        subject=user.username, audience=TOKEN_AUDIENCE
    )
    if IN_COOKIES:
        await authorize.set_access_cookies(access_token)
        await authorize.set_refresh_cookies(refresh_token)
    return {"access_token": access_token, "refresh_token": refresh_token}


# Refresh: a new access token that is not fresh.
@app.post("/refresh")
async def refresh(authorize: AuthJWT = Depends(auth_dep)):
    await authorize.jwt_refresh_token_required()
    current_user = await authorize.get_jwt_subject()
    new_access_token = await authorize.create_access_token(
        subject=current_user, fresh=False, audience=TOKEN_AUDIENCE
    )
    if IN_COOKIES:
        await authorize.set_access_cookies(new_access_token)
    return {"access_token": new_access_token}


# Fresh login: only a fresh access token, no refresh token.
@app.post("/fresh-login")
async def fresh_login(user: User, authorize: AuthJWT = Depends(auth_dep)):
    _check(user)
    new_access_token = await authorize.create_access_token(
        subject=user.username, fresh=True, audience=TOKEN_AUDIENCE
    )
    if IN_COOKIES:
        await authorize.set_access_cookies(new_access_token)
    return {"access_token": new_access_token}


# Any valid access token, fresh or not.
@app.api_route("/protected", methods=["GET", *CSRF_METHODS])
async def protected(authorize: AuthJWT = Depends(auth_dep)):
    await authorize.jwt_required()
    current_user = await authorize.get_jwt_subject()
    return {"user": current_user}


# Only fresh access tokens.
@app.api_route("/protected-fresh", methods=["GET", *CSRF_METHODS])
async def protected_fresh(authorize: AuthJWT = Depends(auth_dep)):
    await authorize.fresh_jwt_required()
    current_user = await authorize.get_jwt_subject()
    return {"user": current_user}


# No token is fine; a token that is sent must be a valid access token.
@app.api_route("/partially-protected", methods=["GET", *CSRF_METHODS])
async def partially_protected(authorize: AuthJWT = Depends(auth_dep)):
    await authorize.jwt_optional()
    current_user = await authorize.get_jwt_subject() or "anonymous"
    return {"user": current_user}


_WS_CHECKS = {
    "access": lambda a: a.jwt_required,
    "fresh": lambda a: a.fresh_jwt_required,
    "optional": lambda a: a.jwt_optional,
    "refresh": lambda a: a.jwt_refresh_token_required,
}


async def _socket(websocket: WebSocket, run, authorize: AuthJWT, token: str) -> None:
    await websocket.accept()
    try:
        await run()
        await websocket.send_text("Successfully Login!")
        raw = await authorize.get_raw_jwt(token or None)
        await websocket.send_text(f"subject: {raw['sub'] if raw else None}")
    except AuthJWTException as err:
        await websocket.send_text(err.message)
    await websocket.close()


@app.websocket("/ws/query/{policy}")
async def ws_query(
    websocket: WebSocket,
    policy: str,
    token: str = Query(""),
    authorize: AuthJWT = Depends(auth_dep),
):
    check = _WS_CHECKS[policy](authorize)
    await _socket(websocket, lambda: check("websocket", token=token), authorize, token)


@app.websocket("/ws/cookies/{policy}")
async def ws_cookies(
    websocket: WebSocket,
    policy: str,
    csrf_token: str = Query(""),
    authorize: AuthJWT = Depends(auth_dep),
):
    check = _WS_CHECKS[policy](authorize)
    await _socket(
        websocket,
        lambda: check("websocket", websocket=websocket, csrf_token=csrf_token),
        authorize,
        "",
    )


def _exit_on_stdin_eof() -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main() -> None:
    if os.environ.get("COMPAT_EXIT_ON_STDIN_EOF") == "1":
        threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    # Listening before the port is printed: a client that connects early waits in the backlog
    # until uvicorn serves, instead of being refused.
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
