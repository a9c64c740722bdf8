#!/usr/bin/env bash
# npm run test:asan: the native addon built with AddressSanitizer + UBSan, and
# the tests that drive it (test/native, test/reliability) run against that
# build. Fails on any sanitizer report, and on any test failure.
#
#   npm run test:asan                  on this machine (no /dev/vfio: argument checks, buffers, GC)
#   npm run test:asan -- --hil         inside the HIL guest (built kernel): the same, plus the conformance
#                                      suites and the lane's interrupt, unplug and fault-injection files
#   npm run test:asan -- --hil <vitest args>   e.g. a file filter
#
# The sanitized addon is built from a copy of binding.gyp and native/ in
# .cache/asan/, so build/Release (what every other test loads) is never
# touched. node-gyp-build loads it from there because NODE_VFIO_PREBUILD points
# at that directory (node-gyp-build reads <PACKAGE_NAME>_PREBUILD).
# Node itself is not instrumented, so libasan is preloaded; leak detection is
# off (V8 keeps memory until exit by design); every report goes to a log file
# under .cache/asan/reports, and a report of any kind fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

hil=0
if [[ ${1:-} == --hil ]]; then
  hil=1
  shift
fi

asan_dir="$repo/.cache/asan"
src="$asan_dir/src"
reports="$asan_dir/reports"

libasan=$(g++ -print-file-name=libasan.so)
if [[ ! -e $libasan || $libasan == libasan.so ]]; then
  echo "asan: libasan.so not found (g++ -print-file-name=libasan.so); install g++" >&2
  exit 2
fi

say() { printf '[asan %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# Rebuild only when the sources or the build description changed.
stamp=$(find binding.gyp native -type f -print0 | sort -z | xargs -0 cat | sha256sum | cut -d' ' -f1)
if [[ ! -f $src/build/Release/vfio.node || $(cat "$src/.stamp" 2>/dev/null) != "$stamp" ]]; then
  say "building the addon with -fsanitize=address,undefined in $src"
  rm -rf "$src"
  mkdir -p "$src"
  cp -r binding.gyp native package.json "$src/"
  # node-gyp resolves node-addon-api (binding.gyp) from here upwards: the repo's node_modules.
  (cd "$src" && VFIO_ASAN=1 npx --no-install node-gyp rebuild -j 2 -- -Dvfio_asan=1 >"$asan_dir/build.log" 2>&1) || {
    tail -n 40 "$asan_dir/build.log" >&2
    echo "asan: build failed (log: $asan_dir/build.log)" >&2
    exit 2
  }
  echo "$stamp" >"$src/.stamp"
else
  say "sanitized addon up to date ($src/build/Release/vfio.node)"
fi
if ! nm -D "$src/build/Release/vfio.node" | grep __asan_report >/dev/null; then
  echo "asan: $src/build/Release/vfio.node has no ASan instrumentation" >&2
  exit 2
fi

rm -rf "$reports"
mkdir -p "$reports"
# Shared by the host run and the guest (the guest sees this checkout at the same path).
export_env=(
  "NODE_VFIO_PREBUILD=$src"
  "LD_PRELOAD=$libasan"
  "ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0:handle_segv=0:allow_user_segv_handler=1:detect_odr_violation=0:log_path=$reports/asan"
  "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
  # The long campaigns in full (test/long.ts), as before npm test sampled them.
  "VFIO_TEST_LONG=1"
)

tests=("$@")
# prebuild.test.ts checks the shipped prebuild and binding-gyp.test.ts the gyp
# flags: neither runs the addon under test, and NODE_VFIO_PREBUILD would
# redirect the first. overhead-suite.test.ts times ~10^6 calls through the
# CLI (over 60 s sanitized on a busy 2-core runner); the same hot calls run
# sanitized in space-calls, overhead-space, plan and the reliability tests.
# In the guest, where the addon meets the kernel: the conformance suites'
# native halves too, and the lane files whose native paths the others do not
# reach (eventfds and their polling on INTx, MSI and MSI-X, the device released
# on unplug, a batch unwound at every injected allocation failure). The whole
# lane sanitized took ~3x a plain boot (every node process, children too, runs
# on ASan's allocator), so the benches, crash and unprivileged runs stay plain.
if [[ ${#tests[@]} -eq 0 ]]; then
  tests=(test/native test/reliability
    --exclude test/native/prebuild.test.ts --exclude test/native/binding-gyp.test.ts
    --exclude test/native/overhead-suite.test.ts)
  [[ $hil == 0 ]] || tests+=(test/conformance test/hil/edu-irq test/hil/edu-irq-cdev test/hil/msix-loopback
    test/hil/device-removal test/hil/fail-nth)
fi

# The tests must load the sanitized build, not build/Release.
loaded=$(env NODE_VFIO_PREBUILD="$src" node -p "require('node-gyp-build').resolve('$repo')")
if [[ $loaded != "$src/build/Release/vfio.node" ]]; then
  echo "asan: node-gyp-build resolves $loaded, not the sanitized build" >&2
  exit 2
fi
# Fails when any sanitizer wrote a report; run where the reports are (the guest
# writes into its own overlay of the checkout, which the host never sees).
check_reports='found=$(find "$0" -type f 2>/dev/null | sort); if [ -n "$found" ]; then echo "asan: sanitizer reports:"; for f in $found; do echo "---- $f"; cat "$f"; done; exit 1; fi'

status=0
if [[ $hil == 1 ]]; then
  # One kernel is enough to check our own memory safety: the built one, which
  # also has iommufd and fault injection (VFIO_ASAN_KERNEL=debian|both to change).
  say "running ${tests[*]} in the HIL guest against the sanitized addon"
  # The kernel-vs-sim fuzz at a quarter of the lane's count: the plain lane
  # covers the semantics; here the sanitizer needs the addon's paths, which
  # 250 + 250 sequences reach. (A comment between the continued lines below
  # would end the command there.)
  VFIO_HIL_LOG="${VFIO_HIL_LOG:-$repo/.cache/hil/asan-console.log}" \
  VFIO_HIL_EXEC="rm -rf $(printf %q "$reports") && mkdir -p $(printf %q "$reports") && env ${export_env[*]} FUZZ_SEQUENCES=250 FUZZ_FD_SEQUENCES=250 node node_modules/vitest/vitest.mjs run --config vitest.hil.config.ts$(printf ' %q' "${tests[@]}"); s=\$?; sh -c $(printf %q "$check_reports") $(printf %q "$reports") || exit 1; exit \$s" \
    bash scripts/hil/run.sh --kernel "${VFIO_ASAN_KERNEL:-built}" || status=$?
else
  say "running ${tests[*]} against the sanitized addon"
  env "${export_env[@]}" node node_modules/vitest/vitest.mjs run "${tests[@]}" || status=$?
fi

sh -c "$check_reports" "$reports" >&2 || exit 1
if [[ $status != 0 ]]; then
  echo "asan: tests failed under the sanitizers (exit $status), no sanitizer report" >&2
  exit "$status"
fi
say "clean: no AddressSanitizer or UBSan report"
