#!/usr/bin/env bash
# A first start (BENCHMARKS.md, "A first start while plugins compile"): how long after
# `plugboard serve` starts it answers /healthz, and how long until /readyz (every plugin
# compiled and loaded), with an empty data folder and compiled cache, the bundled plugins
# and the plugin folders given (such as a built examples/python-tagger). Three runs.
#
#   bench/first-start.sh path/to/built/python-tagger
#   PLUGBOARD=target/release/plugboard bench/first-start.sh path/to/plugin ...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
plugboard=${PLUGBOARD:-$target/release/plugboard}
[ -x "$plugboard" ] || (cd "$root" && cargo build --release -p plugboard)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plugins"
for folder in "$@"; do cp -r "$folder" "$work/plugins/"; done
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
now() { date +%s.%N; }
for run in 1 2 3; do
    rm -rf "$work/data" "$work/cache"
    started=$(now)
    PLUGBOARD_NO_MODEL_DOWNLOAD=true PLUGINS_DIRS="$work/plugins" PLUGBOARD_CACHE_DIR="$work/cache" \
        "$plugboard" serve --addr "127.0.0.1:$port" --data-dir "$work/data" >"$work/log" 2>&1 &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.02; done
    healthy=$(now)
    until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.1; done
    ready=$(now)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 -c "print(f'run $run: /healthz after {$healthy - $started:.2f} s, /readyz after {$ready - $started:.1f} s')"
done
