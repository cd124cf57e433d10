#!/usr/bin/env python3
"""Soak test for freshgate (not in CI): the release binary in front of a local upstream, under
mixed traffic for DURATION seconds, with a config reload every 30 s; RSS and open file
descriptors sampled every 10 s. Only 127.0.0.1 is contacted; every loop is bounded by the
deadline. Exits non-zero on any 5xx, or when RSS or descriptors grew by more than 10% from the
first sample after warm-up to the last.

Traffic, from several threads at once:
  - valid: keep-alive GETs with a fresh token to a fresh route, and public GETs;
  - rejected: missing, stale and forged tokens (401/422), ambiguous aliases and lower-case
    methods (400);
  - malformed: bare LF heads, bad Host, CL+TE (400, connection closed);
  - slow: clients that send half a head and stall, and clients that read the response slowly.
"""

import http.client
import http.server
import json
import os
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "freshgate")
WARMUP = 30.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_HEAD = _answer

    def log_message(self, *args):
        pass


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


CONFIG = """
[server]
listen = "127.0.0.1:{port}"
request_head_timeout = "2s"
idle_timeout = "5s"
workers = 2

[admin]
listen = "127.0.0.1:{admin}"

[upstreams]
app = "http://127.0.0.1:{upstream}"

[jwt]
secret = "soak-secret-not-for-production-0123456789"

[[route]]
path = "/protected-fresh"
policy = "fresh"

[[route]]
path = "/protected"
policy = "access"

[[route]]
path = "/admin/settings"
policy = "fresh"

[[route]]
prefix = "/"
policy = "public"
# reload marker {marker}
"""


def token(fresh):
    out = subprocess.run(
        [BINARY, "token", "--config", CONFIG_PATH, "--sub", "soak", "--expires-in", "2h"]
        + (["--fresh"] if fresh else []),
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.server_errors = []

    def add(self, kind, status):
        with self.lock:
            key = f"{kind} {status}"
            self.counts[key] = self.counts.get(key, 0) + 1
            if isinstance(status, int) and status >= 500:
                self.server_errors.append(key)


def keepalive_client(port, deadline, tally, fresh_token, stale_token):
    requests = [
        ("valid", "GET", "/protected-fresh", {"authorization": f"Bearer {fresh_token}"}, 200),
        ("valid", "GET", "/public/page", {}, 200),
        ("rejected", "GET", "/protected-fresh", {"authorization": f"Bearer {stale_token}"}, 401),
        ("rejected", "GET", "/protected", {}, 401),
        ("rejected", "GET", "/protected", {"authorization": "Bearer not.a.token"}, 422),
        ("rejected", "GET", "/ADMIN/SETTINGS", {}, 400),
    ]
    i = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.time() < deadline:
        kind, method, path, headers, want = requests[i % len(requests)]
        i += 1
        try:
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            response.read()
            tally.add(kind, response.status)
            if response.status != want:
                tally.add(f"unexpected {method} {path} (wanted {want})", response.status)
            if response.getheader("connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        except (OSError, http.client.HTTPException) as e:
            tally.add("client error", type(e).__name__)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)


MALFORMED = [
    b"GET / HTTP/1.1\nhost: x\n\n",
    b"GET / HTTP/1.1\r\nhost: a b\r\n\r\n",
    b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    b"delete /protected HTTP/1.1\r\nhost: x\r\n\r\n",
    b"GET /public/%252e%252e/admin/settings HTTP/1.1\r\nhost: x\r\n\r\n",
]


def malformed_client(port, deadline, tally):
    i = 0
    while time.time() < deadline:
        payload = MALFORMED[i % len(MALFORMED)]
        i += 1
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(payload)
                data = s.recv(4096)
                status = int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else "none"
                tally.add("malformed", status)
        except (OSError, ValueError, IndexError) as e:
            tally.add("malformed client error", type(e).__name__)
        time.sleep(0.01)


def slow_client(port, deadline, tally):
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET /public/slow HTTP/1.1\r\nhost: x\r\n")
                data = s.recv(4096)  # the head timeout answers 408 or closes
                tally.add("slow head", data.split(b" ")[1].decode() if data else "closed")
        except OSError as e:
            tally.add("slow client error", type(e).__name__)


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


def main():
    global CONFIG_PATH
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    if not os.path.exists(BINARY):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    upstream = ThreadingServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port, admin = free_port(), free_port()
    workdir = tempfile.mkdtemp(prefix="freshgate-soak-")
    CONFIG_PATH = os.path.join(workdir, "soak.toml")

    def write_config(marker):
        with open(CONFIG_PATH + ".tmp", "w") as f:
            f.write(CONFIG.format(port=port, admin=admin, upstream=upstream.server_address[1], marker=marker))
        os.replace(CONFIG_PATH + ".tmp", CONFIG_PATH)

    write_config(0)
    env = dict(os.environ, RUST_LOG="warn")
    gateway = subprocess.Popen([BINARY, "serve", "--config", CONFIG_PATH], env=env,
                               stderr=open(os.path.join(workdir, "gateway.log"), "w"))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    fresh_token, stale_token = token(True), token(False)
    tally = Tally()
    start = time.time()
    deadline = start + duration
    threads = [threading.Thread(target=keepalive_client, args=(port, deadline, tally, fresh_token, stale_token)) for _ in range(4)]
    threads += [threading.Thread(target=malformed_client, args=(port, deadline, tally))]
    threads += [threading.Thread(target=slow_client, args=(port, deadline, tally)) for _ in range(2)]
    for t in threads:
        t.start()
    samples, reloads, next_reload, next_sample = [], 0, start + 30, start
    while time.time() < deadline:
        now = time.time()
        if now >= next_sample:
            rss, fds = sample(gateway.pid)
            samples.append((round(now - start), rss, fds))
            print(f"t={now - start:6.0f}s rss={rss} KiB fds={fds} requests={sum(tally.counts.values())}", flush=True)
            next_sample += 10
        if now >= next_reload:
            reloads += 1
            write_config(reloads)
            next_reload += 30
        time.sleep(0.5)
    for t in threads:
        t.join()
    with urllib_open(admin) as metrics:
        reload_lines = [l for l in metrics.splitlines() if l.startswith("freshgate_reloads_total")]
    gateway.terminate()
    gateway.wait(timeout=40)
    upstream.shutdown()
    after = [s for s in samples if s[0] >= WARMUP] or samples
    first, last = after[0], after[-1]
    rss_growth = (last[1] - first[1]) / first[1]
    fd_growth = (last[2] - first[2]) / max(first[2], 1)
    summary = {
        "duration_s": duration,
        "requests": sum(tally.counts.values()),
        "counts": dict(sorted(tally.counts.items())),
        "server_errors": len(tally.server_errors),
        "reloads_written": reloads,
        "reload_metrics": reload_lines,
        "rss_kib_first_last": [first[1], last[1]],
        "fds_first_last": [first[2], last[2]],
        "rss_growth": round(rss_growth, 4),
        "fd_growth": round(fd_growth, 4),
    }
    print(json.dumps(summary, indent=2))
    ok = not tally.server_errors and rss_growth <= 0.10 and fd_growth <= 0.10
    print("soak: PASS" if ok else "soak: FAIL")
    sys.exit(0 if ok else 1)


def urllib_open(admin):
    import contextlib
    import urllib.request

    @contextlib.contextmanager
    def opened():
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            yield r.read().decode()

    return opened()


if __name__ == "__main__":
    main()
