#!/usr/bin/env bash
# Runs `switchboard nlu-bench` on every public benchmark in ../shared/benchmarks
# (or $BENCHMARKS) with the same settings, and prints one line per dataset plus
# the Braun overall accuracy weighted by test size. NLU_BENCH_ARGS adds flags
# (e.g. "--set learning_rate=0.1") to every run.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHMARKS=${BENCHMARKS:-../shared/benchmarks}
BIN=${SWITCHBOARD:-./target/release/switchboard}
[ -x "$BIN" ] || cargo build --release
printf '%-16s %8s %8s %9s %8s %8s %10s\n' dataset accuracy macro_f1 in_scope oos_rec train_s predict/s
braun_correct=0; braun_total=0
for dir in "$BENCHMARKS"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/train.jsonl" ] || continue
    # shellcheck disable=SC2086  # NLU_BENCH_ARGS holds several --set flags
    json=$("$BIN" nlu-bench --train "$dir/train.jsonl" --test "$dir/test.jsonl" --json ${NLU_BENCH_ARGS:-})
    python3 - "$name" "$json" <<'PY'
import json, sys
name, r = sys.argv[1], json.loads(sys.argv[2])
oos = r["oos_recall"]
print(f'{name:<16} {r["accuracy"]:8.4f} {r["macro_f1"]:8.4f} {r["in_scope_accuracy"]:9.4f} '
      f'{("%.4f" % oos) if oos is not None else "n/a":>8} {r["train_seconds"]:8.2f} {r["predict_per_second"]:10.0f}')
PY
    case "$name" in braun-*)
        read -r c t < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(round(r["accuracy"]*r["test_examples"]), r["test_examples"])' "$json")
        braun_correct=$((braun_correct + c)); braun_total=$((braun_total + t));;
    esac
done
if [ "$braun_total" -gt 0 ]; then
    python3 -c "print(f'braun overall (weighted by test size): {$braun_correct/$braun_total:.4f}')"
fi
