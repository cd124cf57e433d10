#!/usr/bin/env bash
# User-space instructions per request under valgrind's callgrind: a figure that wall-clock load
# runs on a shared machine cannot give (repeatable to about 0.1%). One worker, one keep-alive
# connection, requests sent one at a time; the counters are zeroed after a warm-up and dumped
# after the measured requests, so start-up, warm-up and shutdown are not counted.
#
#   benches/callgrind.sh [ROWS...]        rows: access-hs256 public bare-hyper (default: all)
#   REQUESTS=2000 WARMUP=200 benches/callgrind.sh access-hs256
#   FRESHGATE=path/to/freshgate benches/callgrind.sh     (default: target/release/freshgate)
#   LOG=on benches/callgrind.sh access-hs256    the access log on (RUST_LOG=info, the default
#                                              config) instead of off (RUST_LOG=warn)
#   KEEP=dir benches/callgrind.sh               keeps each row's profile as dir/<row>.callgrind
#
# Needs valgrind and python3; builds nothing itself: run `cargo build --release` and
# `cargo bench --bench load --no-run` first (the bench binary is the upstream and bare-hyper).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-2000}
WARMUP=${WARMUP:-200}
FRESHGATE=${FRESHGATE:-target/release/freshgate}
case ${LOG:-off} in
    on) FILTER=info ;;
    off) FILTER=warn ;;
    *) echo "callgrind: LOG is on or off, not $LOG" >&2; exit 2 ;;
esac
ROWS=("$@")
[ ${#ROWS[@]} -gt 0 ] || ROWS=(access-hs256 public bare-hyper)
LOAD=$(ls -t target/release/deps/load-* 2>/dev/null | grep -v '\.d$' | head -n1 || true)
[ -x "$FRESHGATE" ] || { echo "callgrind: no $FRESHGATE; run cargo build --release" >&2; exit 2; }
[ -n "$LOAD" ] || { echo "callgrind: no load bench binary; run cargo bench --bench load --no-run" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind: install valgrind (apt-get install valgrind)" >&2; exit 2; }

DIR=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP_DIR:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {
    for _ in $(seq 1 600); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "callgrind: nothing listens on port $1" >&2
    return 1
}

# Sends N sequential GETs on one keep-alive connection; any status but 200 is fatal.
drive() {
    python3 - "$@" <<'PY'
import socket, sys
port, path, count, auth = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
if auth:
    head += f"Authorization: Bearer {auth}\r\n"
request = (head + "\r\n").encode()
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""
for i in range(count):
    s.sendall(request)
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit(f"connection closed after {i} responses")
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    if status != b"200":
        sys.exit(f"request {i}: status {status.decode()}\n{head.decode(errors='replace')}")
    length = next(int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")[1:]
                  if l.lower().startswith(b"content-length:"))
    while len(buf) < length:
        buf += s.recv(65536)
    buf = buf[length:]
s.close()
PY
}

UPSTREAM_PORT=$(free_port)
"$LOAD" --upstream "127.0.0.1:$UPSTREAM_PORT" >"$DIR/upstream.log" 2>&1 &
PIDS+=($!)
wait_port "$UPSTREAM_PORT"

SECRET=callgrind-bench-secret-0123456789abcdef
config() {
    sed -e "s/{{GATEWAY_PORT}}/$1/" -e "s/{{UPSTREAM_PORT}}/$UPSTREAM_PORT/" \
        -e "s/{{JWT_KEY}}/algorithms = [\"HS256\"]\nsecret = \"$SECRET\"/" bench/freshgate.toml |
        sed -e 's/^\[server\]$/[server]\nworkers = 1/'
    echo
    cat tests/fixtures/routes.toml
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs"
echo "freshgate: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted changes'); $REQUESTS requests after $WARMUP warm-up, one connection, access log ${LOG:-off}"
printf '%-14s %14s %12s %14s\n' row instructions instr/req 'unparked/req'
for row in "${ROWS[@]}"; do
    port=$(free_port)
    path=/protected token=
    case $row in
        access-hs256 | public)
            config "$port" >"$DIR/gateway.toml"
            [ "$row" = public ] && path=/static/app.css
            [ "$row" = access-hs256 ] && token=$("$FRESHGATE" --config "$DIR/gateway.toml" token --sub bench-user --expires-in 1h)
            prefix=(env RUST_LOG=$FILTER) server=("$FRESHGATE" --config "$DIR/gateway.toml" serve)
            ;;
        bare-hyper)
            # One runtime: the forwarder starts one per CPU it may run on.
            prefix=(taskset -c 0) server=("$LOAD" --baseline "127.0.0.1:$port" --upstream-addr "127.0.0.1:$UPSTREAM_PORT")
            ;;
        *) echo "callgrind: unknown row $row" >&2; exit 2 ;;
    esac
    out="$DIR/$row.out"
    # The prefix runs valgrind, not under it (valgrind does not follow exec by default).
    "${prefix[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no \
        "${server[@]}" >"$DIR/$row.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$port"
    drive "$port" "$path" "$WARMUP" "$token"
    callgrind_control -z "$pid" >/dev/null 2>&1
    drive "$port" "$path" "$REQUESTS" "$token"
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    # The dump after zeroing holds the measured requests only (-d writes $out.1).
    total=$(awk '/^(summary|totals):/ { print $2; exit }' "$out.1")
    # Parking the runtime (epoll_wait and the timer wheel) varies by about 1% from run to run
    # with how the client's and upstream's timing batches wake-ups; the rest is the work.
    park=$(callgrind_annotate --inclusive=yes --threshold=100 "$out.1" 2>/dev/null |
        awk '/current_thread::Context::park(_yield)? / { gsub(",", "", $1); sum += $1 } END { print sum + 0 }')
    printf '%-14s %14s %12s %14s\n' "$row" "$total" "$((total / REQUESTS))" "$(((total - park) / REQUESTS))"
    [ -z "${KEEP:-}" ] || { mkdir -p "$KEEP" && cp "$out.1" "$KEEP/$row.callgrind"; }
done
