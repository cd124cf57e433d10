#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (committed; rerun after changing a target's
input layout). Tokens are HS256 with the fuzz targets' SECRET and minted around their fixed
clock NOW, so they stay valid for the targets whatever the date. Standard library only.

    python3 fuzz/make_seeds.py
"""

import base64
import hashlib
import hmac
import json
import pathlib
import shutil

SECRET = b"fuzz-secret-not-for-production"
NOW = 1_750_000_000  # fuzz_targets/decision.rs: NOW_MS / 1000
ISSUER = "https://auth.example"

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

# decision.rs control byte
PUBLIC, OPTIONAL, ACCESS, FRESH, REFRESH = range(5)
DEFAULT, BARE, STRICT = 0x00, 0x08, 0x10
SIGNED = 0x20
SPLIT, COOKIE = 0x40, 0x80


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws(payload: bytes, header=None, alg="sha256") -> str:
    header = header or {"alg": "HS256", "typ": "JWT"}
    signing_input = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(payload)
    digest = getattr(hashlib, alg)
    signature = hmac.new(SECRET, signing_input.encode(), digest).digest()
    return signing_input + "." + b64(signature)


DROP = object()  # a claim to leave out


def claims(token_type="access", fresh=False, **extra):
    c = {"sub": "alice", "iat": NOW, "nbf": NOW, "jti": "2f4d8a52-5d1c-4b38-9d68-1c5e6a0b7f11",
         "exp": NOW + 900, "type": token_type}
    if token_type == "access":
        c["fresh"] = fresh
    c.update(extra)
    return {k: v for k, v in c.items() if v is not DROP}


def payload(**kw) -> bytes:
    return json.dumps(claims(**kw), separators=(",", ":")).encode()


def token(**kw) -> str:
    return jws(payload(**kw))


def write(target: str, name: str, data: bytes):
    (CORPUS / target).mkdir(parents=True, exist_ok=True)
    (CORPUS / target / name).write_bytes(data)


def decision_seeds():
    fresh = token(fresh=True)
    stale = token(fresh=False)
    refresh = token(token_type="refresh")
    strict_fresh = token(fresh=True, iss=ISSUER, aud="my-api")
    raw = {
        "fresh-access-on-fresh": (FRESH, f"Bearer {fresh}"),
        "stale-access-on-fresh": (FRESH, f"Bearer {stale}"),
        "stale-access-on-access": (ACCESS, f"Bearer {stale}"),
        "refresh-on-refresh": (REFRESH, f"Bearer {refresh}"),
        "refresh-on-access": (ACCESS, f"Bearer {refresh}"),
        "access-on-refresh": (REFRESH, f"Bearer {fresh}"),
        "empty-on-optional": (OPTIONAL, ""),
        "fresh-on-optional": (OPTIONAL, f"Bearer {fresh}"),
        "anything-on-public": (PUBLIC, "Bearer x y z"),
        "lowercase-bearer": (FRESH, f"bearer {fresh}"),
        "tab-separated": (FRESH, f"Bearer\t{fresh}"),
        "three-parts": (FRESH, f"Bearer {fresh} extra"),
        "type-only": (FRESH, "Bearer"),
        "type-and-space": (FRESH, "Bearer "),
        "bearer-x": (FRESH, "Bearer x"),
        "bare-token-wanted-type": (FRESH, fresh),
        "not-enough-segments": (ACCESS, "Bearer a.b"),
        "empty-segments": (ACCESS, "Bearer .."),
        "empty-objects": (ACCESS, "Bearer e30.e30."),
        "bad-padding": (ACCESS, "Bearer a.b.c"),
        "alg-none": (ACCESS, "Bearer " + b64(b'{"alg":"none"}') + "." + b64(payload(fresh=True)) + "."),
        "alg-rs256-hmac-signed": (FRESH, "Bearer " + jws(payload(fresh=True), {"alg": "RS256"})),
        "alg-missing": (FRESH, "Bearer " + jws(payload(fresh=True), {"typ": "JWT"})),
        "kid-number": (FRESH, "Bearer " + jws(payload(fresh=True), {"alg": "HS256", "kid": 7})),
        "expired": (ACCESS, "Bearer " + token(fresh=True, exp=NOW - 60)),
        "not-yet-valid": (ACCESS, "Bearer " + token(fresh=True, nbf=NOW + 60)),
        "fresh-until-future": (FRESH, "Bearer " + token(fresh=NOW + 300)),
        "fresh-until-past": (FRESH, "Bearer " + token(fresh=NOW - 300)),
        "fresh-string-false": (FRESH, "Bearer " + token(fresh="false")),
        "signature-tampered": (FRESH, f"Bearer {fresh[:-2]}AA"),
        "cookie-only": (COOKIE | FRESH, f"access_token_cookie={fresh}"),
        "bare-x-token": (BARE | FRESH, fresh),
        "bare-x-token-with-type": (BARE | FRESH, f"Bearer {fresh}"),
        "bare-hs512": (BARE | ACCESS, jws(payload(fresh=False), {"alg": "HS512"}, "sha512")),
        "strict-fresh": (STRICT | FRESH, f"Bearer {strict_fresh}"),
        "strict-missing-iss": (STRICT | FRESH, f"Bearer {fresh}"),
        "strict-aud-list": (STRICT | ACCESS, "Bearer " + token(iss=ISSUER, aud=["x", "other-api"])),
        "strict-refresh-no-iss": (STRICT | REFRESH, "Bearer " + token(token_type="refresh", aud="my-api")),
    }
    for name, (control, value) in raw.items():
        write("decision", "raw-" + name, bytes([control]) + value.encode())
    write("decision", "raw-latin1-space", bytes([FRESH]) + b"Bearer\xa0" + fresh.encode())
    write("decision", "raw-nel-space", bytes([FRESH]) + b"Bearer\x85" + fresh.encode())
    write("decision", "raw-high-bytes-in-token", bytes([ACCESS]) + b"Bearer \xe9" + fresh.encode())
    write("decision", "raw-two-values-stale-first",
          bytes([SPLIT | FRESH]) + f"Bearer {stale}\nBearer {fresh}".encode())
    write("decision", "raw-two-values-fresh-first",
          bytes([SPLIT | FRESH]) + f"Bearer {fresh}\nBearer {stale}".encode())

    signed = {
        "fresh-access": (FRESH, payload(fresh=True)),
        "stale-access": (FRESH, payload(fresh=False)),
        "refresh": (REFRESH, payload(token_type="refresh")),
        "missing-type": (ACCESS, payload(type=DROP)),
        "type-number": (ACCESS, payload(type=5)),
        "type-refresh-on-fresh": (FRESH, payload(token_type="refresh")),
        "fresh-string-true": (FRESH, payload(fresh="true")),
        "fresh-one": (FRESH, payload(fresh=1)),
        "fresh-until-future": (FRESH, payload(fresh=NOW + 60)),
        "fresh-until-float": (FRESH, payload(fresh=NOW + 0.5)),
        "iat-numeric-string": (ACCESS, payload(fresh=True, iat=" 1_750_000_000 ")),
        "iat-float": (ACCESS, payload(fresh=True, iat=1.5)),
        "iat-list": (ACCESS, payload(fresh=True, iat=[1])),
        "nbf-future": (ACCESS, payload(fresh=True, nbf=NOW + 31)),
        "exp-past": (ACCESS, payload(fresh=True, exp=NOW - 1)),
        "exp-string": (ACCESS, payload(fresh=True, exp="1750000900")),
        "exp-huge": (ACCESS, b'{"type":"access","fresh":true,"exp":1e300}'),
        "exp-bigint": (ACCESS, b'{"type":"access","fresh":true,"exp":123456789012345678901234567890}'),
        "exp-negative": (ACCESS, payload(fresh=True, exp=-1)),
        "no-exp": (FRESH, payload(fresh=True, exp=DROP)),
        "duplicate-type": (ACCESS, b'{"type":"refresh","type":"access","fresh":true}'),
        "sub-number": (ACCESS, payload(sub=42)),
        "sub-object": (ACCESS, payload(sub={"id": 1})),
        "sub-crlf": (ACCESS, payload(sub="alice\r\nX-Auth-Fresh: true")),
        "sub-unicode": (ACCESS, payload(sub="Zoë 🦀")),
        "sub-edge-spaces": (ACCESS, payload(sub=" alice ")),
        "sub-percent": (ACCESS, payload(sub="100%25")),
        "sub-null": (ACCESS, payload(sub=None)),
        "not-an-object": (ACCESS, b"[]"),
        "a-string": (ACCESS, b'"access"'),
        "not-json": (ACCESS, b"{type:access}"),
        "not-utf8": (ACCESS, b'{"type":"\xff"}'),
        "nested": (ACCESS, b'{"type":"access","x":' + b"[" * 100 + b"]" * 100 + b"}"),
        "empty": (ACCESS, b""),
        "strict-ok": (STRICT | FRESH, payload(fresh=True, iss=ISSUER, aud="my-api")),
        "strict-wrong-iss": (STRICT | FRESH, payload(fresh=True, iss="https://evil", aud="my-api")),
        "strict-aud-list": (STRICT | ACCESS, payload(iss=ISSUER, aud=["a", "other-api"])),
        "strict-aud-number": (STRICT | ACCESS, payload(iss=ISSUER, aud=5)),
        "strict-aud-missing": (STRICT | OPTIONAL, payload(fresh=True)),
        "strict-leeway-exp": (STRICT | ACCESS, payload(iss=ISSUER, aud="my-api", exp=NOW - 29)),
        "strict-refresh-ignores-iss": (STRICT | REFRESH, payload(token_type="refresh", aud="my-api")),
        "aud-without-config": (ACCESS, payload(fresh=True, aud="my-api")),
    }
    for name, (control, body) in signed.items():
        for variant in range(4):
            if variant and "fresh-access" not in name and "stale" not in name:
                continue  # spelling variants only for a couple of payloads
            write("decision", f"signed-{name}-v{variant}", bytes([SIGNED | control | variant << 6]) + body)
    for variant in range(4):
        write("decision", f"signed-bare-fresh-access-v{variant}",
              bytes([SIGNED | BARE | FRESH | variant << 6]) + payload(fresh=True))


def path_seeds():
    lines = [
        "GET /",
        "GET /protected-fresh",
        "GET /%70rotected-fresh",
        "GET //protected-fresh",
        "GET /./protected-fresh",
        "GET /static/../protected-fresh",
        "GET /static/%2e%2e/protected-fresh",
        "GET /static/%2E%2e/protected-fresh",
        "GET /static/.%2e/protected-fresh",
        "GET /protected-fresh/.",
        "GET /protected-fresh/",
        "DELETE /repos/alice/x",
        "DELETE /repos/%61lice/./x",
        "DELETE /repos//alice///x",
        "DELETE /repos/new/x",
        "GET /repos/alice",
        "GET /static",
        "GET /static/",
        "GET /staticx",
        "GET /static/private/./key",
        "GET /static/privatex",
        "GET /static/a%2Fb",
        "GET /static/a%2fb",
        "GET /a%5cb",
        "GET /a%5Cb",
        "GET /a\\b",
        "GET /a%00",
        "GET /a%0d%0a",
        "GET /a%7f",
        "GET /a%zz",
        "GET /a%4",
        "GET /a%",
        "GET /..",
        "GET /a/../..",
        "GET /%2e%2e/etc/passwd",
        "GET /caf%c3%a9",
        # hyper accepts UTF-8 in a request target, so the rules must hold for it too
        "GET /café/./x",
        "GET /café%20",
        "GET /a%3ab/%7Euser",
        "GET /a%2d%2E%5f",
        "GET /..a/b./...",
        "PUT /a/1/b",
        "PATCH /a/%31/b",
        "GET /x/b/y",
        "GET /dir/",
        "GET /dir/.",
        "GET /dir",
        "POST /api/x/../y",
        "POST /login",
        "POST /",
        "OPTIONS *",
        "GET http://example.test/x",
        "GET relative",
        "GET ",
    ]
    for i, line in enumerate(lines):
        write("path_route", f"{i:02}", line.encode())


CONFIG_HEAD = """[upstreams]
app = "http://127.0.0.1:8000"

[jwt]
secret = "secret"

"""

ROUTE = """[[route]]
path = "/protected-fresh"
policy = "fresh"
"""


def config_seeds():
    shutil.copy(HERE.parent / "gateway.toml.example", CORPUS / "config" / "gateway.toml.example")
    broken = {
        "minimal": CONFIG_HEAD + ROUTE,
        "empty": "",
        "syntax-unclosed-string": CONFIG_HEAD + '[[route]]\npath = "/a\npolicy = "fresh"\n',
        "unknown-key": CONFIG_HEAD + '[[route]]\npath = "/a"\npolcy = "fresh"\n',
        "unknown-policy": CONFIG_HEAD + '[[route]]\npath = "/a"\npolicy = "frsh"\n',
        "policy-wrong-type": CONFIG_HEAD + '[[route]]\npath = "/a"\npolicy = 5\n',
        "no-jwt": '[upstreams]\napp = "http://127.0.0.1:8000"\n\n' + ROUTE,
        "no-upstreams": '[jwt]\nsecret = "s"\n\n' + ROUTE,
        "empty-upstreams": '[upstreams]\n\n[jwt]\nsecret = "s"\n\n' + ROUTE,
        "no-routes": CONFIG_HEAD,
        "two-secrets": '[upstreams]\napp = "http://127.0.0.1:8000"\n\n[jwt]\nsecret = "a"\nsecret_env = "B"\n\n' + ROUTE,
        "secret-file-missing": '[upstreams]\napp = "http://127.0.0.1:8000"\n\n[jwt]\nsecret_file = "missing.key"\n\n' + ROUTE,
        "secret-env-unset": '[upstreams]\napp = "http://127.0.0.1:8000"\n\n[jwt]\nsecret_env = "FRESHGATE_FUZZ_UNSET"\n\n' + ROUTE,
        "secret-empty": '[upstreams]\napp = "http://127.0.0.1:8000"\n\n[jwt]\nsecret = ""\n\n' + ROUTE,
        "alg-none": CONFIG_HEAD.replace('secret = "secret"', 'secret = "secret"\nalgorithms = ["none"]') + ROUTE,
        "alg-rs256": CONFIG_HEAD.replace('secret = "secret"', 'secret = "secret"\nalgorithms = ["RS256", "hs256"]') + ROUTE,
        "alg-empty": CONFIG_HEAD.replace('secret = "secret"', 'secret = "secret"\nalgorithms = []') + ROUTE,
        "jwt-everything": CONFIG_HEAD.replace(
            'secret = "secret"',
            'secret = "secret"\nalgorithms = ["HS256", "HS384", "HS512"]\nleeway = "5s"\n'
            'issuer = "https://auth.example"\naudience = ["a", "b"]\nheader_name = "X-Token"\nheader_type = ""',
        ) + ROUTE,
        "bad-header": CONFIG_HEAD.replace('secret = "secret"', 'secret = "secret"\nheader_name = "bad header"\nheader_type = "Bear er"\naudience = []') + ROUTE,
        "methods-lowercase": CONFIG_HEAD + '[[route]]\npath = "/a"\nmethods = ["get"]\npolicy = "public"\n',
        "methods-empty": CONFIG_HEAD + '[[route]]\npath = "/a"\nmethods = []\npolicy = "public"\n',
        "methods-bad": CONFIG_HEAD + '[[route]]\npath = "/a"\nmethods = ["G E T", "PURGE"]\npolicy = "public"\n',
        "bad-patterns": CONFIG_HEAD + '[[route]]\npath = "/a//b"\npolicy = "public"\n\n[[route]]\nprefix = "/static/"\npolicy = "public"\n\n[[route]]\npath = "/a/{x-y}/%2e"\npolicy = "public"\n\n[[route]]\nprefix = "/s/{x}"\npolicy = "public"\n',
        "path-and-prefix": CONFIG_HEAD + '[[route]]\npath = "/a"\nprefix = "/a"\npolicy = "public"\n',
        "neither-path-nor-prefix": CONFIG_HEAD + '[[route]]\npolicy = "public"\n',
        "tie": CONFIG_HEAD + ROUTE + "\n" + ROUTE,
        "two-upstreams-unnamed": '[upstreams]\na = "http://127.0.0.1:1"\nb = "http://127.0.0.1:2"\n\n[jwt]\nsecret = "s"\n\n' + ROUTE + 'upstream = "c"\n\n' + ROUTE.replace("fresh", "public").replace("-public", "-x"),
        "bad-upstream-urls": '[upstreams]\na = "https://x"\nb = "http://x/path"\nc = "http://u@x:1"\nd = "x:1"\n\n[jwt]\nsecret = "s"\n\n' + ROUTE,
        "server-everything": '[server]\nlisten = "0.0.0.0:8080"\nupstream_timeout = "30s"\nupstream_connect_timeout = "500ms"\nrequest_head_timeout = "20s"\nshutdown_timeout = "1m"\nmax_connections = 100\nmax_header_bytes = 16384\nmax_headers = 50\nmax_uri_bytes = 4096\nmax_token_bytes = 4096\nmax_body_bytes = 1048576\n\n' + CONFIG_HEAD + ROUTE + "max_body_bytes = 10\n",
        "server-out-of-range": '[server]\nlisten = "localhost:80"\nupstream_timeout = "5 parsecs"\nmax_connections = 0\nmax_headers = -1\nmax_body_bytes = -5\nleeway = "1s"\n\n' + CONFIG_HEAD + ROUTE,
        "huge-duration": CONFIG_HEAD.replace('secret = "secret"', 'secret = "secret"\nleeway = "100000000000y"') + ROUTE,
        "multibyte-positions": "# é 🦀\n" + CONFIG_HEAD + '[[route]]\npath = "/é"\npolicy = "public"\n',
        "duplicate-table": CONFIG_HEAD + "[jwt]\n" + ROUTE,
    }
    for name, text in broken.items():
        write("config", name + ".toml", text.encode())


def main():
    for target in ("decision", "path_route", "config"):
        shutil.rmtree(CORPUS / target, ignore_errors=True)
        (CORPUS / target).mkdir(parents=True)
    decision_seeds()
    path_seeds()
    config_seeds()


if __name__ == "__main__":
    main()
