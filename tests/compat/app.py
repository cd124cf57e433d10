"""The fastapi-jwt-auth 0.5.0 "fresh tokens" example app, as the reference for tests/compat.rs.

Routes (as in the library's documentation, plus the "partially protecting" example):
  POST /login                 {"username": "test", "password": "test"} -> fresh access + refresh token
  POST /refresh               jwt_refresh_token_required()             -> new non-fresh access token
  POST /fresh-login           {"username": "test", "password": "test"} -> fresh access token
  GET  /protected             jwt_required()
  GET  /protected-fresh       fresh_jwt_required()
  GET  /partially-protected   jwt_optional()

Settings come from the environment:
  AUTHJWT_SECRET_KEY        (required) the HMAC secret
  AUTHJWT_DECODE_ISSUER     (optional) issuer required on access tokens on jwt_required/fresh routes
  AUTHJWT_DECODE_AUDIENCE   (optional) accepted audience; a comma-separated value is a list
  AUTHJWT_ENCODE_ISSUER     (optional) `iss` written into access tokens
  COMPAT_TOKEN_AUDIENCE     (optional) `aud` this app writes into the tokens it issues, so that its
                            own tokens pass its decode audience (passed as `audience=`; comma = list)
  COMPAT_EXIT_ON_STDIN_EOF  (optional) "1": exit when stdin closes, so the app never outlives the
                            test process that started it, even when that one is killed

Run: python app.py. The app binds 127.0.0.1 on a port the OS picks, prints that port alone on the
first line of stdout, then serves.
"""

import os
import socket
import sys
import threading
from typing import List, Optional, Union

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi_jwt_auth import AuthJWT
from fastapi_jwt_auth.exceptions import AuthJWTException
from pydantic import BaseModel


def _env(name: str) -> Optional[str]:
    return os.environ.get(name) or None


def _audience(value: Optional[str]) -> Optional[Union[str, List[str]]]:
    if not value:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return parts[0] if len(parts) == 1 else parts


TOKEN_AUDIENCE = _audience(_env("COMPAT_TOKEN_AUDIENCE"))

app = FastAPI()


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


@AuthJWT.load_config
def get_config():
    return Settings()


# The documented handler: every library exception becomes {"detail": message} with its status.
@app.exception_handler(AuthJWTException)
def authjwt_exception_handler(request: Request, exc: AuthJWTException):
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.message})


def _check(user: User) -> None:
    if user.username != "test" or user.password != "test":
        raise HTTPException(status_code=401, detail="Bad username or password")


# Standard login endpoint: a fresh access token and a refresh token.
@app.post("/login")
def login(user: User, Authorize: AuthJWT = Depends()):
    _check(user)
    access_token = Authorize.create_access_token(
        subject=user.username, fresh=True, audience=TOKEN_AUDIENCE
    )
    refresh_token = Authorize.create_refresh_token(
        subject=user.username, audience=TOKEN_AUDIENCE
    )
    return {"access_token": access_token, "refresh_token": refresh_token}


# Refresh: a new access token that is not fresh.
@app.post("/refresh")
def refresh(Authorize: AuthJWT = Depends()):
    Authorize.jwt_refresh_token_required()
    current_user = Authorize.get_jwt_subject()
    new_access_token = Authorize.create_access_token(
        subject=current_user, fresh=False, audience=TOKEN_AUDIENCE
    )
    return {"access_token": new_access_token}


# Fresh login: only a fresh access token, no refresh token.
@app.post("/fresh-login")
def fresh_login(user: User, Authorize: AuthJWT = Depends()):
    _check(user)
    new_access_token = Authorize.create_access_token(
        subject=user.username, fresh=True, audience=TOKEN_AUDIENCE
    )
    return {"access_token": new_access_token}


# Any valid access token, fresh or not.
@app.get("/protected")
def protected(Authorize: AuthJWT = Depends()):
    Authorize.jwt_required()
    current_user = Authorize.get_jwt_subject()
    return {"user": current_user}


# Only fresh access tokens.
@app.get("/protected-fresh")
def protected_fresh(Authorize: AuthJWT = Depends()):
    Authorize.fresh_jwt_required()
    current_user = Authorize.get_jwt_subject()
    return {"user": current_user}


# No token is fine; a token that is sent must be a valid access token.
@app.get("/partially-protected")
def partially_protected(Authorize: AuthJWT = Depends()):
    Authorize.jwt_optional()
    current_user = Authorize.get_jwt_subject() or "anonymous"
    return {"user": current_user}


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
