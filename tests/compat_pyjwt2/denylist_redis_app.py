"""async-fastapi-jwt-auth 0.6.6's own Redis denylist example (examples/denylist_redis.py), as the
reference for tests/compat_pyjwt2/denylist_redis.rs: the port of tests/compat/denylist_redis_app.py
to the fork, written as the fork's example is (awaited calls, the `AuthJWTBearer()` dependency, an
async denylist callback, which the fork awaits). The app writes `SETEX <jti> <lifetime> 'true'` on
logout, and its denylist callback reads `GET <jti> == 'true'`.

Routes, as in the example:
  POST   /login           {"username": "test", "password": "test"} -> access + refresh token
  POST   /refresh         jwt_refresh_token_required()             -> new access token
  DELETE /access-revoke   jwt_required(): revokes the access token
  DELETE /refresh-revoke  jwt_refresh_token_required(): revokes the refresh token
  GET    /protected       jwt_required()

Settings come from the environment:
  AUTHJWT_SECRET_KEY        (required) the HMAC secret
  COMPAT_REDIS_PORT         (required) the port of the test's redis-server on 127.0.0.1
  COMPAT_EXIT_ON_STDIN_EOF  (optional) "1": exit when stdin closes

Run: python denylist_redis_app.py. It binds 127.0.0.1 on a port the OS picks, prints that port
alone on the first line of stdout, then serves.
"""

import os
import socket
import sys
import threading
from datetime import timedelta

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from async_fastapi_jwt_auth import AuthJWT
from async_fastapi_jwt_auth.auth_jwt import AuthJWTBearer
from async_fastapi_jwt_auth.exceptions import AuthJWTException
from pydantic import BaseModel
from redis import Redis

app = FastAPI()
auth_dep = AuthJWTBearer()


class User(BaseModel):
    username: str
    password: str


class Settings(BaseModel):
    authjwt_secret_key: str = os.environ["AUTHJWT_SECRET_KEY"]
    authjwt_denylist_enabled: bool = True
    authjwt_denylist_token_checks: set = {"access", "refresh"}
    access_expires: int = timedelta(minutes=15)
    refresh_expires: int = timedelta(days=30)


settings = Settings()


@AuthJWT.load_config
def get_config():
    return settings


@app.exception_handler(AuthJWTException)
def authjwt_exception_handler(request: Request, exc: AuthJWTException):
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.message})


redis_conn = Redis(
    host="127.0.0.1", port=int(os.environ["COMPAT_REDIS_PORT"]), db=0, decode_responses=True
)


@AuthJWT.token_in_denylist_loader
async def check_if_token_in_denylist(decrypted_token):
    jti = decrypted_token["jti"]
    entry = redis_conn.get(jti)
    return entry and entry == "true"


@app.post("/login")
async def login(user: User, authorize: AuthJWT = Depends(auth_dep)):
    if user.username != "test" or user.password != "test":
        raise HTTPException(status_code=401, detail="Bad username or password")
    access_token = await authorize.create_access_token(subject=user.username)
    refresh_token = await authorize.create_refresh_token(subject=user.username)
    return {"access_token": access_token, "refresh_token": refresh_token}


@app.post("/refresh")
async def refresh(authorize: AuthJWT = Depends(auth_dep)):
    await authorize.jwt_refresh_token_required()
    current_user = await authorize.get_jwt_subject()
    new_access_token = await authorize.create_access_token(subject=current_user)
    return {"access_token": new_access_token}


@app.delete("/access-revoke")
async def access_revoke(authorize: AuthJWT = Depends(auth_dep)):
    await authorize.jwt_required()
    jti = (await authorize.get_raw_jwt())["jti"]
    redis_conn.setex(jti, settings.access_expires, "true")
    return {"detail": "Access token has been revoke"}


@app.delete("/refresh-revoke")
async def refresh_revoke(authorize: AuthJWT = Depends(auth_dep)):
    await authorize.jwt_refresh_token_required()
    jti = (await authorize.get_raw_jwt())["jti"]
    redis_conn.setex(jti, settings.refresh_expires, "true")
    return {"detail": "Refresh token has been revoke"}


@app.get("/protected")
async def protected(authorize: AuthJWT = Depends(auth_dep)):
    await authorize.jwt_required()
    current_user = await authorize.get_jwt_subject()
    return {"user": current_user}


# The same readiness path the suite's harness polls for app.py.
@app.get("/partially-protected")
def ready():
    return {"user": None}


def _exit_on_stdin_eof():
    sys.stdin.read()
    os._exit(0)


def main():
    if os.environ.get("COMPAT_EXIT_ON_STDIN_EOF") == "1":
        threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
