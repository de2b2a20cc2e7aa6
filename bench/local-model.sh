#!/usr/bin/env bash
# The embedded local model against llama.cpp on the same GGUF file (SmolLM2-135M-Instruct
# Q4_1), prompt, greedy decoding and number of generated tokens.
#
#   bench/local-model.sh [--rounds 5] [--tokens 128] [--threads N]
#
# First the Rust bench in full (`cargo bench -p plugboard-server --bench local_model`: raw,
# through the server, concurrent replies; it fetches the model into its target directory),
# then the engine raw and the llama.cpp harness in `bench/llama-cpp` alternating round by
# round, with the ratio of their median generation speeds. `--threads` is for llama.cpp
# only (default: all cores, as the embedded engine uses). CARGO_TARGET_DIR defaults to ~/.cache/plugboard/target; the harness builds
# in its own `$CARGO_TARGET_DIR/llama-cpp`, since it is compiled for the native CPU.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

tokens=128
rounds=5
threads="$(nproc)"
args=("$@")
while (($# > 0)); do
    case "$1" in
        --tokens | --rounds | --threads)
            if (($# < 2)); then
                echo "$1 needs a value" >&2
                exit 2
            fi
            case "$1" in
                --tokens) tokens="$2" ;;
                --rounds) rounds="$2" ;;
                --threads) threads="$2" ;;
            esac
            shift 2
            ;;
        *)
            shift
            ;;
    esac
done

# llama.cpp is compiled from C++ source by `llama-cpp-sys-2`: cmake, a C/C++ compiler and
# libclang (for bindgen) are needed.
missing=()
for package in cmake clang libclang-dev; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ((${#missing[@]} > 0)); then
    if ! command -v apt-get >/dev/null; then
        echo "missing ${missing[*]} and no apt-get to install them with" >&2
        exit 1
    fi
    sudo=()
    if ((EUID != 0)); then
        sudo=(sudo)
    fi
    echo "installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

CARGO_TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-$HOME/.cache/plugboard/target}")"
export CARGO_TARGET_DIR
harness_target="$CARGO_TARGET_DIR/llama-cpp"
# Where the Rust bench keeps the model: its CARGO_TARGET_TMPDIR is `$CARGO_TARGET_DIR/tmp`.
model="$CARGO_TARGET_DIR/tmp/models/SmolLM2-135M-Instruct.Q4_1.gguf"

# Build the harness first (several minutes the first time) so that the two measurements
# run back to back. From its own directory, so that its `.cargo/config.toml` applies.
echo "== building the llama.cpp harness (target $harness_target)" >&2
(cd "$root/bench/llama-cpp" && CARGO_TARGET_DIR="$harness_target" cargo build --release --quiet)

# The embedded engine in full first (raw, through the server, concurrent replies); it also
# fetches the model.
echo "== embedded engine: cargo bench -p plugboard-server --bench local_model -- ${args[*]}"
(cd "$root" && cargo bench -p plugboard-server --bench local_model -- "${args[@]}")

if [[ ! -f "$model" ]]; then
    echo "the Rust bench left no model at $model" >&2
    exit 1
fi

# Then the two engines alternating, one round each at a time, so that a busy moment on a
# shared machine hits both alike; the ratio is of the medians.
echo "== alternating: embedded engine raw and llama.cpp, $rounds rounds of $tokens tokens, llama.cpp on $threads threads"
ours=()
theirs=()
for ((round = 1; round <= rounds; round++)); do
    line="$(cd "$root" && cargo bench --quiet -p plugboard-server --bench local_model -- --raw-only --rounds 1 --tokens "$tokens" 2>/dev/null | grep '^raw median')"
    ours+=("$(sed -E 's/.*generation ([0-9.]+) tok.*/\1/' <<<"$line")")
    ours_prompt="$(sed -E 's/.*prompt ([0-9.]+) tok.*/\1/' <<<"$line")"
    line="$("$harness_target/release/plugboard-bench-llama-cpp" --model "$model" --tokens "$tokens" --rounds 1 --threads "$threads" | grep '^llama.cpp median')"
    theirs+=("$(sed -E 's/.*generation ([0-9.]+) tok.*/\1/' <<<"$line")")
    theirs_prompt="$(sed -E 's/.*prompt ([0-9.]+) tok.*/\1/' <<<"$line")"
    echo "round $round: embedded prompt $ours_prompt tok/s, generation ${ours[-1]} tok/s | llama.cpp prompt $theirs_prompt tok/s, generation ${theirs[-1]} tok/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ours_median="$(median "${ours[@]}")"
theirs_median="$(median "${theirs[@]}")"
echo "median generation: embedded $ours_median tok/s, llama.cpp $theirs_median tok/s, ratio $(awk -v a="$ours_median" -v b="$theirs_median" 'BEGIN { printf "%.2f", a / b }')"
