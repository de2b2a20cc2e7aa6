#!/usr/bin/env bash
# The language benchmark (BENCHMARKS.md, "Plugins in Rust, Python and JavaScript"): the
# example tagger in Rust (plugins/example-tagger), Python (examples/python-tagger) and
# JavaScript (bench/js-tagger), side by side in one run.
#
# Builds the Python and JavaScript components with `plugboard plugin build` from copies of
# their folders in a temporary folder, then runs the host benchmark (calls, load times,
# sizes, idle memory) and the chat turn benchmark with their folders in
# PLUGBOARD_BENCH_PYTHON and PLUGBOARD_BENCH_JS. Arguments go to both benchmarks (such as
# `--runs 3`).
#
#   bench/languages.sh
#   PLUGBOARD=path/to/plugboard bench/languages.sh --runs 3
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
plugboard=${PLUGBOARD:-$target/debug/plugboard}
export PLUGBOARD_TOOLS_DIR=${PLUGBOARD_TOOLS_DIR:-$HOME/.cache/plugboard/tools-bench}

if ! "$plugboard" plugin new --help 2>/dev/null | grep -q -- --lang; then
  (cd "$root" && cargo build -p plugboard)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for folder in examples/python-tagger bench/js-tagger; do
  copy=$work/$(basename "$folder")
  mkdir -p "$copy"
  # The sources, without a component, caches or node_modules left by an earlier build.
  (cd "$root/$folder" && tar --exclude=plugin.wasm --exclude=__pycache__ --exclude=node_modules \
    --exclude=.pytest_cache -cf - .) | (cd "$copy" && tar -xf -)
  echo "building $folder" >&2
  "$plugboard" plugin build --path "$copy" >&2
done
export PLUGBOARD_BENCH_PYTHON=$work/python-tagger PLUGBOARD_BENCH_JS=$work/js-tagger
ls -l "$PLUGBOARD_BENCH_PYTHON/plugin.wasm" "$PLUGBOARD_BENCH_JS/plugin.wasm" >&2

cd "$root"
if [ -n "${LANGUAGES_BUILD_ONLY:-}" ]; then
  # Keep the components for a manual run.
  rm -rf "$LANGUAGES_BUILD_ONLY" && cp -r "$work" "$LANGUAGES_BUILD_ONLY"
  exit 0
fi
cargo bench -p plugboard-host --bench languages -- "$@"
cargo bench -p plugboard-server --bench chat_languages -- "$@"
