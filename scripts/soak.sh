#!/usr/bin/env bash
# Soak test (not in CI): scripts/soak.sh [DURATION_SECONDS] (default 600). Builds the release
# binary if needed, then runs scripts/soak.py: mixed valid, rejected, malformed and slow traffic
# on 127.0.0.1 with a reload every 30 s, sampling RSS and open descriptors every 10 s. Exits
# non-zero on any 5xx or when RSS or descriptors grew more than 10% after warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
exec python3 scripts/soak.py "${1:-600}"
