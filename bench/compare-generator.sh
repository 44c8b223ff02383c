#!/usr/bin/env bash
# clstyle vs PyTorch (CPU) on the same feed-forward generator work, measured in one run.
#   bench/compare-generator.sh [pyramid|johnson ...]     default: pyramid johnson
# Times generation at 512 and 1024 px and one training step (batch 4 at 256 px, VGG19 loss, Adam) with
# `clstyle bench --generator ARCH` and bench/python/torch_generator.py (its docstring says what it mirrors).
# Environment: ITERATIONS (timed, default 3), WARMUP (default 1), THREADS (PyTorch threads, default 2),
# DEVICE (clstyle --device), PYTHON (default /usr/bin/python3, Debian's python3-torch).
# Prints, per row, both medians and clstyle / PyTorch (below 1: clstyle is faster), and clstyle's peak
# device memory beside PyTorch's peak resident memory for the whole run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
archs=("$@")
[ ${#archs[@]} -eq 0 ] && archs=(pyramid johnson)
iterations="${ITERATIONS:-3}"
warmup="${WARMUP:-1}"
threads="${THREADS:-2}"
python="${PYTHON:-/usr/bin/python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
device_opt=()
[ -n "${DEVICE:-}" ] && device_opt=(--device "$DEVICE")

for a in "${archs[@]}"; do
  echo "== $a: clstyle bench --generator" >&2
  "$root/clstyle" bench --generator "$a" --iterations "$iterations" --warmup "$warmup" "${device_opt[@]}" \
      --json "$tmp/clstyle-$a.json" >&2
  echo "== $a: PyTorch ($threads threads)" >&2
  "$python" "$root/bench/python/torch_generator.py" --arch "$a" --iterations "$iterations" --warmup "$warmup" \
      --threads "$threads" --json "$tmp/torch-$a.json" >&2
done
"$python" - "$tmp" "${archs[@]}" <<'PY'
import json, sys
tmp, archs = sys.argv[1], sys.argv[2:]
print("%-8s %-32s %10s %10s %16s %12s" % ("arch", "what", "clstyle s", "PyTorch s", "clstyle/PyTorch", "clstyle MiB"))
for a in archs:
    c = json.load(open(f"{tmp}/clstyle-{a}.json")); t = json.load(open(f"{tmp}/torch-{a}.json"))
    torch_rows = {r["what"]: r["seconds"] for r in t["rows"]}
    for r in c["rows"]:
        ts = torch_rows.get(r["what"])
        ratio = "%16.2f" % (r["seconds"] / ts) if ts else "%16s" % "-"
        print("%-8s %-32s %10.3f %10s %s %12.0f" % (a, r["what"], r["seconds"], "%.3f" % ts if ts else "-", ratio,
                                                  r["peak_device_bytes"] / 2**20))
    print("%-8s PyTorch peak resident memory %.0f MiB (%d threads)" % (a, t["peak_resident_bytes"] / 2**20, t["threads"]))
PY
