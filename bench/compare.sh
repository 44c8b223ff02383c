#!/usr/bin/env bash
# clstyle vs PyTorch (CPU) on the same Gatys iteration, measured in one run.
#   bench/compare.sh [SIZE ...]          default sizes: 256 512
# Environment: ITERATIONS (timed, default 3), WARMUP (default 1), THREADS (PyTorch threads, default 2),
# DEVICE (clstyle --device), PYTHON (default /usr/bin/python3, Debian's python3-torch).
# Prints, per size, both medians and clstyle / PyTorch (below 1: clstyle is faster).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(256 512)
iterations="${ITERATIONS:-3}"
warmup="${WARMUP:-1}"
threads="${THREADS:-2}"
python="${PYTHON:-/usr/bin/python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
device_opt=()
[ -n "${DEVICE:-}" ] && device_opt=(--device "$DEVICE")

rows=()
for n in "${sizes[@]}"; do
  echo "== size $n: clstyle bench" >&2
  "$root/clstyle" bench --size "$n" --iterations "$iterations" --warmup "$warmup" "${device_opt[@]}" \
      --json "$tmp/clstyle-$n.json" >&2
  echo "== size $n: PyTorch ($threads threads)" >&2
  "$python" "$root/bench/python/torch_iteration.py" --size "$n" --iterations "$iterations" --warmup "$warmup" \
      --threads "$threads" --json "$tmp/torch-$n.json" >&2
  rows+=("$("$python" - "$tmp/clstyle-$n.json" "$tmp/torch-$n.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
cs, ts = c["iteration_seconds_median"], t["iteration_seconds_median"]
cm, tm = c["peak_device_bytes"] / 2**20, t["peak_memory_bytes"] / 2**20
print(f'{c["size"]:>6} {cs:>12.3f} {ts:>12.3f} {cs / ts:>16.2f} {cm:>13.0f} {tm:>13.0f} {cm / tm:>10.2f}')
PY
)")
done
printf '%6s %12s %12s %16s %13s %13s %10s\n' size "clstyle s" "PyTorch s" "clstyle/PyTorch" "clstyle MiB" "PyTorch MiB" "mem ratio"
printf '%s\n' "${rows[@]}"
