#!/usr/bin/env bash
# Tiled against untiled evaluation of the same image, per pixel, in one run (issue 16's speed target:
# tiled no more than 1.25x slower per pixel than untiled).
#   bench/compare-tiled.sh WxH [BUDGET ...]          e.g. bench/compare-tiled.sh 3840x2160 8G 4G
# For each budget: `clstyle bench --size WxH --max-device-memory BUDGET` with the plan the budget gives (the
# default: every mode considered), with the tiles running the whole network (-Dclstyle.tile.whole=none: kept
# outputs or checkpoints still considered), and plainly (all three =none); first the untiled run (no budget),
# which needs the whole image's activations on the device. UNTILED=0 skips it; MODES="default nowhole plain"
# (the default) names which of the three run.
# Environment: ITERATIONS (timed, default 1), WARMUP (default 1), DEVICE (clstyle --device).
# Prints one row per run: plan, seconds per iteration, seconds per megapixel, ratio to the untiled run's
# seconds per megapixel, peak device memory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 1 ] || { echo "usage: bench/compare-tiled.sh WxH [BUDGET ...]" >&2; exit 2; }
size="$1"
shift
iterations="${ITERATIONS:-1}"
warmup="${WARMUP:-1}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
device_opt=()
[ -n "${DEVICE:-}" ] && device_opt=(--device "$DEVICE")

run() { # name, java options, bench options...
  local name="$1" opts="$2"
  shift 2
  echo "== $name" >&2
  CLSTYLE_JAVA_OPTS="-Xmx8g $opts" "$root/clstyle" bench --size "$size" --iterations "$iterations" --warmup "$warmup" \
      "${device_opt[@]}" --json "$tmp/$name.json" "$@" >&2
}

names=()
if [ "${UNTILED:-1}" != 0 ]; then
  run untiled "" && names+=(untiled)
fi
for b in "$@"; do
  for m in ${MODES:-default nowhole plain}; do
    case "$m" in
      default) run "budget-$b" "" --max-device-memory "$b" && names+=("budget-$b") ;;
      nowhole) run "budget-$b-nowhole" "-Dclstyle.tile.whole=none" --max-device-memory "$b" && names+=("budget-$b-nowhole") ;;
      plain) run "budget-$b-plain" "-Dclstyle.tile.keep=none -Dclstyle.tile.checkpoint=none -Dclstyle.tile.whole=none" \
          --max-device-memory "$b" && names+=("budget-$b-plain") ;;
      *) echo "compare-tiled.sh: unknown mode '$m' in MODES (default, nowhole, plain)" >&2; exit 2 ;;
    esac
  done
done

/usr/bin/python3 - "$tmp" "${names[@]}" <<'EOF'
import json, sys, os
tmp, names = sys.argv[1], sys.argv[2:]
rows = {n: json.load(open(os.path.join(tmp, n + ".json"))) for n in names}
for r in rows.values():  # a square untiled size runs bench's per-layer mode, whose JSON names the size once
    if "seconds_per_megapixel" not in r:
        r["seconds_per_megapixel"] = r["iteration_seconds_median"] / (r["size"] ** 2 / 1e6)
        r.setdefault("loss", "untiled")
base = rows.get("untiled", {}).get("seconds_per_megapixel")
print(f"{'run':<22} {'s/iter':>9} {'s/MP':>8} {'vs untiled':>10} {'peak MiB':>9}  plan")
for n in names:
    r = rows[n]
    ratio = f"{r['seconds_per_megapixel'] / base:.2f}" if base else "-"
    print(f"{n:<22} {r['iteration_seconds_median']:>9.2f} {r['seconds_per_megapixel']:>8.2f} {ratio:>10} "
          f"{r['peak_device_bytes'] / 2**20:>9.0f}  {r['loss']}")
EOF
