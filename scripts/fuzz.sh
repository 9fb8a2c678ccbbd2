#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of user files with libFuzzer (`cargo fuzz`, which needs a
# nightly toolchain: `rustup toolchain install nightly` and `cargo install cargo-fuzz`).
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]      default: 600 s each, all eight targets
#   FUZZ_RUNS=N scripts/fuzz.sh                           N inputs per target from a fixed seed:
#                                                        the same inputs on every machine (CI)
# Each target starts from fuzz/seeds/<target>/ and keeps what it learns in fuzz/corpus/<target>/;
# a crash is saved in fuzz/artifacts/<target>/ — copy it into fuzz/regressions/<target>/ with the
# fix, so `cargo test` (tests/fuzz.rs) replays it for ever. Prints executions per target.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv table texts audio image weights tokenizer project)
export CARGO_TARGET_DIR="${STRATA_FUZZ_TARGET_DIR:-$HOME/.cache/strata-fuzz-target}"
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  # Inputs over 1 MB are not interesting; 2 GB of memory and 10 s per input are the bounds every
  # import must stay within.
  if [ -n "${FUZZ_RUNS:-}" ]; then
    # A fresh corpus each time, so the inputs depend on the seeds and the code only.
    rm -rf "corpus/$t" && mkdir -p "corpus/$t"
    budget=(-runs="$FUZZ_RUNS" -seed=1)
  else
    budget=(-max_total_time="$secs")
  fi
  cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
    "${budget[@]}" -max_len=1048576 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"logs/$t.log" 2>&1 || { echo "$t: FAILED (see fuzz/logs/$t.log)"; tail -n 30 "logs/$t.log"; exit 1; }
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo "?")
  echo "$t: ${FUZZ_RUNS:+fixed seed, }${FUZZ_RUNS:-${secs}s}${FUZZ_RUNS:+ runs}, $execs executions, no crash"
done
