#!/usr/bin/env bash
# Every kernel variant (GPU variants forced too) against its reference under Oclgrind, the OpenCL 1.2
# GPU simulator: data races, out-of-bounds and uninitialised accesses, API misuse. Oclgrind reports to
# OCLGRIND_LOG and never fails a call, so a run passes only when every row matches its reference AND
# the log is empty (engine/src/test/java/org/clstyle/selftest/OclgrindSuiteTest.java checks both, per row).
#
# Three passes, each in a JVM of its own after one Maven build:
#   1. OCLGRIND_DATA_RACES=1 OCLGRIND_CHECK_API=1 (plus the always-on memory checks): every kernel
#      (Oclgrind is a GPU device, so the plain conv2d rows run the GPU tiles and the 'gpu-tiles' rows,
#      which pin the same tiles, are skipped; the 'row-tiles' rows pin one of the narrow row tiles
#      that CPU devices get).
#   2. OCLGRIND_UNINITIALIZED=1: only the families where Debian's Oclgrind 21.10 can run it. Its plugin
#      stops with "Unsupported instruction: freeze" (and the kernel then does nothing) on the LLVM
#      freeze instruction that clang emits in conv3x3*.cl (GEMM, direct, Winograd), conv2d.cl and
#      gram.cl (the gemm.cl core), tv.cl and warp.cl, and crashes the JVM (SIGSEGV in memcpy) in
#      gram_direct_forward and in norm's ROWS kernels (norm_stats_rows and the others: float8 runs summed
#      lane by lane, like gram_direct's; clean in pass 1); so it runs on pool, relu, image, optim (the
#      vector kernels), pad (both layouts), norm (the work-group layout and batch norm's running statistics),
#      resample (upsample, average pooling), channels, pointwise and noise. Its other false reports:
#      when a buffer is released and a larger one created in its slot, values a kernel writes past the
#      old buffer's size are later read as "uninitialised" (the reported offsets start exactly at the
#      old size: the plugin apparently keeps the slot's old size). norm_param_grads reported sums[4..5] after
#      Normalization grew its scratch from 4 to 6 floats (the norm rows now order their shapes so that
#      it does not grow), and adam_step reported the moments from element 4 on when the multi-tensor
#      Adam row (whose moments are created and zeroed by a kernel) followed the vector row's 4-float
#      buffer; it is clean alone, and its kernels (fill, adam_step) are the vector row's, so it is
#      left out of this pass. Loss is left out for a report probably of the same kind: after mse_partials and
#      then l1_partials over three stage-1 groups it reports partials[1..2] uninitialised in
#      reduce_partials, although the L1 sum matches the reference to 1e-5 (stale MSE partials would be
#      far off) and MSE twice, L1 twice or either alone report nothing.
#   3. OCLGRIND_UNINITIALIZED=1 on one conv forward, whose kernels abort silently there: the engine's
#      first-forward check must throw (KernelDidNotRunException).
# Usage: .ci/oclgrind.sh [MAVEN_FLAGS...]   (e.g. -o to stay offline)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v oclgrind >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq oclgrind >/dev/null
fi
icd=$(ls /usr/lib/oclgrind/liboclgrind-rt-icd.so /usr/lib/*/oclgrind/liboclgrind-rt-icd.so 2>/dev/null | head -1 || true)
if [ -z "$icd" ]; then
  echo "oclgrind.sh: liboclgrind-rt-icd.so not found" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$icd" > "$work/oclgrind.icd"

# One Maven build (tests compiled, the test classpath written out), then each pass in a JVM of its own:
# a Maven run per pass cost about 40 s of the 3 minutes.
MVN_FLAGS=("$@")
echo "== build"
start=$SECONDS
mvn -B -q "${MVN_FLAGS[@]}" -pl engine -am test-compile dependency:build-classpath -Dmdep.includeScope=test \
  "-Dmdep.outputFile=$work/classpath" > "$work/build.out" 2>&1 || { cat "$work/build.out" >&2; exit 1; }
classpath="engine/target/test-classes:engine/target/classes:$(cat "$work/classpath")"
echo "   ($((SECONDS - start)) s)"

run_pass() { # name, row regex, log-must-be-empty (1/0), test (suite or silent-kernels), then Oclgrind variables
  local name=$1 rows=$2 clean=$3 test=$4
  shift 4
  local log="$work/$name.log"
  : > "$log"
  echo "== Oclgrind pass '$name' ($*), rows /$rows/"
  local start=$SECONDS rc=0
  env OCL_ICD_VENDORS="$work" OCLGRIND_LOG="$log" OCLGRIND_CHECK_API=1 CLSTYLE_CACHE_DIR="$work/cache" "$@" \
    java -Xmx2g -cp "$classpath" "-Dclstyle.oclgrind.rows=$rows" org.clstyle.selftest.OclgrindSuiteTest "$test" \
    > "$work/$name.out" 2>&1 || rc=$?
  grep "^oclgrind " "$work/$name.out" || true
  echo "   ($((SECONDS - start)) s)"
  if [ $rc -ne 0 ] || { [ "$clean" = 1 ] && [ -s "$log" ]; }; then
    echo "oclgrind.sh: pass '$name' FAILED (exit $rc, log $(wc -c < "$log") bytes)" >&2
    grep -v '^oclgrind ' "$work/$name.out" | grep -v '^\s*at ' | head -60 >&2 || true
    echo "--- Oclgrind log (first 80 lines) ---" >&2
    head -80 "$log" >&2
    return 1
  fi
}

status=0
run_pass races '(?!conv2d gpu-tiles ).*' 1 suite CLSTYLE_OCLGRIND_SUITE=1 OCLGRIND_DATA_RACES=1 || status=1
run_pass uninitialized '(pool|relu|image|pad|norm WORK_GROUPS|norm batch|resample|channels|pointwise|noise) .*|optim dot/.*' 1 suite \
  CLSTYLE_OCLGRIND_SUITE=1 OCLGRIND_UNINITIALIZED=1 || status=1
# 3. The conv kernels abort under the uninitialised-value plugin while their calls succeed: the
#    engine's first-forward check must report it (the log holds the aborts here, by design).
run_pass silent-kernels '' 0 silent-kernels OCLGRIND_UNINITIALIZED=1 || status=1
exit $status
