#!/usr/bin/env bash
# On a lent GPU machine, after `bash .device/checks.sh SIZES` (../shared/device: the engine tests, then the
# float bench beside PyTorch CUDA), what issue 11's closing note needs beyond it, in about three minutes:
#   1. the same pipeline with half-precision activations (--storage half) at each size;
#   2. `tune --quick` (stored in a cache under $OUT, so the machine's own cache is untouched), then the float
#      bench again at each size with the tuned settings, per-stage table included.
# Logs and JSON under $OUT (or /tmp/out); prints one summary line per run.
#   bash bench/device-extra.sh [SIZES...]          (default 1024 2048; run from the project root)
# Locally (no GPU) it runs on whatever OpenCL device `.device/setup.sh` finds; CLSTYLE_LOCAL=1 uses ./clstyle.
set -u
if [ "${CLSTYLE_LOCAL:-0}" = 1 ]; then
  CLSTYLE=./clstyle
else
  . .device/setup.sh
fi
out=${OUT:-/tmp/out}
mkdir -p "$out"
sizes=${*:-1024 2048}
summary() { # log label
  printf '%-28s %s | %s\n' "$2" "$(grep -E '^iteration ' "$1" | sed -E 's/ +/ /g' | cut -c1-90)" \
    "$(grep -E '^device memory' "$1" | sed -E 's/ +/ /g' | cut -c1-60)"
}
echo "== half-precision activations (--storage half)"
for s in $sizes; do
  timeout 150 $CLSTYLE bench --size "$s" --iterations 10 --warmup 2 --storage half --json "$out/bench-$s-half.json" \
    > "$out/bench-$s-half.log" 2>&1
  summary "$out/bench-$s-half.log" "$s px half"
done
echo "== tune --quick, then the float bench with the tuned settings"
export CLSTYLE_CACHE_DIR="$out/cache"
timeout 240 $CLSTYLE tune --quick > "$out/tune.log" 2>&1
tail -3 "$out/tune.log"
for s in $sizes; do
  timeout 150 $CLSTYLE bench --size "$s" --iterations 10 --warmup 2 --json "$out/bench-$s-tuned.json" \
    > "$out/bench-$s-tuned.log" 2>&1
  summary "$out/bench-$s-tuned.log" "$s px float, tuned"
done
