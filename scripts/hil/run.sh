#!/usr/bin/env bash
# The HIL lane: boots a real kernel under QEMU (TCG, no KVM needed) with an
# emulated intel-iommu and the edu DMA device, and runs the project's HIL tests
# (vitest.hil.config.ts) inside it against the real kernel VFIO. Two kernels, three boots:
# "debian", the pinned Debian package (VFIO as modules), and "built", Debian's
# linux-source built here with scripts/hil/kernel-built.config (VFIO, iommufd,
# IOMMUFD_TEST and fault injection built in; build-kernel.sh, cached). A third,
# short boot, "built-noiommu", starts the built kernel without the VT-d device:
# there the IOMMUFD_TEST mock domain is the only IOMMU (6.12 probes the mock
# device with VT-d's ops when VT-d is present), and only the mock-domain test
# file runs (test/hil/iommufd-dirty-mock; no edu binding, no vfio-pci).
#
#   npm run test:hil [-- <vitest args>]                 debian, built, built-noiommu, one after the other
#   npm run test:hil -- --kernel debian|built|built-noiommu|both [<vitest args>]
#   npm run test:hil -- --iommu intel|amd|both [<vitest args>]
#                                                       the emulated IOMMU of the debian and built boots:
#                                                       intel-iommu (VT-d, the default), amd-iommu (AMD-Vi),
#                                                       or each kernel twice (the AMD-Vi boot is named
#                                                       <kernel>-amd); built-noiommu has none either way
#   npm run test:hil -- --host [<args>]                 on this machine, a real VFIO host
#
# Exit code: the first failing kernel's: the tests' exit code; 124 the guest timed out; 130 interrupted;
# 86 the guest could not set itself up; 3 it stopped without reporting (panic);
# 2 the host side could not set up.
# Environment: VFIO_HIL_TIMEOUT (seconds per kernel, default 2400), VFIO_HIL_LOG (console
# log, default .cache/hil/console-<time>-<pid>.log, console.log the latest),
# VFIO_HIL_CACHE_DIR (downloads and
# initramfs), VFIO_HIL_HUGEPAGES (2 MiB pages the guest reserves, default 16),
# VFIO_HIL_EXEC (a shell command the guest runs in the checkout instead of vitest),
# FUZZ_SEED / FUZZ_SEQUENCES / FUZZ_FD_SEQUENCES (passed to the guest's tests),
# VFIO_HIL_JOBS (make -j for the kernel build, default nproc).
set -euo pipefail
. "$(dirname "$0")/common.sh"

if [[ ${1:-} == --host ]]; then
  shift
  exec bash "$HIL_DIR/host-run.sh" "$@"
fi

kernels=(debian built built-noiommu)
# The one file the IOMMU-less boot runs; the user's vitest arguments (file
# filters meant for the VFIO tests) do not apply to it.
noiommu_tests=(test/hil/iommufd-dirty-mock)
choice=both
iommu_choice=intel
while (($#)); do
  case $1 in
    --kernel=*) choice=${1#--kernel=}; shift ;;
    --kernel) choice=${2:-}; shift $(($# >= 2 ? 2 : 1)) ;;
    --iommu=*) iommu_choice=${1#--iommu=}; shift ;;
    --iommu) iommu_choice=${2:-}; shift $(($# >= 2 ? 2 : 1)) ;;
    *) break ;;
  esac
done
case $choice in
  debian | built | built-noiommu) kernels=("$choice") ;;
  both) ;;
  *) hil_die "--kernel must be debian, built, built-noiommu or both, got '$choice'" ;;
esac
case $iommu_choice in
  intel | amd) iommus=("$iommu_choice") ;;
  both) iommus=(intel amd) ;;
  *) hil_die "--iommu must be intel, amd or both, got '$iommu_choice'" ;;
esac
# One boot per kernel and IOMMU, named <kernel> for VT-d (as before) and <kernel>-amd for AMD-Vi.
boots=()
declare -A boot_kind=() boot_iommu=()
for kind in "${kernels[@]}"; do
  if [[ $kind == built-noiommu ]]; then
    boots+=("$kind")
    boot_kind[$kind]=$kind boot_iommu[$kind]=none
    continue
  fi
  for iommu in "${iommus[@]}"; do
    name=$kind
    [[ $iommu == amd ]] && name=$kind-amd
    boots+=("$name")
    boot_kind[$name]=$kind boot_iommu[$name]=$iommu
  done
done

timeout_s=${VFIO_HIL_TIMEOUT:-2400}
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || hil_die "VFIO_HIL_TIMEOUT must be a whole number of seconds, got '$timeout_s'"
log_dir="$REPO_DIR/.cache/hil"
stamp=$(date -u +%Y%m%dT%H%M%SZ)

node_bin=$(command -v node) || hil_die "node is not on PATH"
node_bin=$(readlink -f "$node_bin")
[[ -f $REPO_DIR/node_modules/vitest/vitest.mjs ]] || hil_die "vitest is not installed: run 'npm ci' in $REPO_DIR first"
compgen -G "$REPO_DIR/build/Release/*.node" >/dev/null || compgen -G "$REPO_DIR/prebuilds/*/*.node" >/dev/null \
  || hil_log "warning: the native addon is not built (npm ci, or npm run build:native): native tests will fail"

bash "$HIL_DIR/ensure-deps.sh"
mkdir -p "$HIL_CACHE"
# What each kernel boots with, and how long preparing it took.
declare -A image=() initrd=() label=() prep_s=()
# One preparer at a time: parallel runs from other checkouts share the cache
# (a second run waits here while the first builds the kernel).
exec {lock}>"$HIL_CACHE/.lock"
flock "$lock"
for kind in "${kernels[@]}"; do
  t0=$(hil_now)
  if [[ $kind == debian ]]; then
    kernel_dir=$(bash "$HIL_DIR/fetch-kernel.sh")
    image[$kind]="$kernel_dir/boot/vmlinuz-$HIL_KERNEL_RELEASE"
    initrd[$kind]=$(bash "$HIL_DIR/build-initramfs.sh" "$kernel_dir")
    label[$kind]="$HIL_KERNEL_PKG $HIL_KERNEL_VERSION"
  else
    image[$kind]=$(bash "$HIL_DIR/build-kernel.sh")
    initrd[$kind]=$(bash "$HIL_DIR/build-initramfs.sh" --no-modules)
    label[$kind]="built from $HIL_SRC_PKG $HIL_SRC_VERSION + kernel-built.config ($(<"$(dirname "${image[$kind]}")/release"))"
    [[ $kind == built-noiommu ]] && label[$kind]+=", no VT-d: IOMMUFD_TEST mock domain only"
  fi
  prep_s[$kind]=$(hil_elapsed "$t0" "$(hil_now)")
done
flock -u "$lock"

# The test files' transforms, made here once: under TCG the guest spends a
# minute or more per boot turning the TypeScript into JavaScript. vitest keeps
# them on disk (experimental.fsModuleCache in vitest.hil.config.ts, keyed on
# each file's content) in node_modules, which the guest sees; `vitest list`
# imports every file, which fills the cache, and runs no test.
# VFIO_HIL_MODULE_CACHE=0 skips it (the stubbed runs of test/unit/hil-scripts,
# where it cost ~5 s a run and boots nothing).
t0=$(hil_now)
# The child processes the tests spawn (test/hil/children/register-ts.mjs) keep
# their own transforms (ts-hooks.mjs): filled here too, so no child loads vite.
if [[ ${VFIO_HIL_MODULE_CACHE:-1} == 0 ]]; then
  hil_log "module caches: not filled (VFIO_HIL_MODULE_CACHE=0); the guest transforms the files itself"
elif (cd "$REPO_DIR" && "$node_bin" node_modules/vitest/vitest.mjs list --config vitest.hil.config.ts >/dev/null 2>&1 \
  && "$node_bin" test/hil/children/warm-ts-cache.mjs >/dev/null 2>&1); then
  hil_log "module caches: the lane's TypeScript transformed on the host in $(hil_elapsed "$t0" "$(hil_now)")s"
else
  hil_log "module caches: filling them failed on the host; the guest transforms the files itself"
fi

qemu_version=$(qemu-system-x86_64 --version | head -n1)
hil_log "qemu:   $qemu_version"
hil_log "node:   $node_bin $("$node_bin" --version)"

# QEMU's id for the hot-plug edu; the only device the guest may have unplugged.
hotplug_id=edu_hot

shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
declare -A boot_s=() tests_s=() result=()
runs=()
trap 'rm -rf "${runs[@]}"' EXIT

# Boots one kernel with one IOMMU, runs the tests in it; sets result/boot_s/tests_s[$name].
boot_kernel() {
  local name=$1
  local kind=${boot_kind[$1]} iommu_kind=${boot_iommu[$1]}
  shift
  # Per-run directory, shared read-write with the guest as 9p tag "out":
  # settings in (env), results out (exit-code, dmesg.log). A fresh path under
  # /tmp also keeps commas and spaces out of QEMU's option syntax.
  local run
  run=$(mktemp -d /tmp/node-vfio-hil.XXXXXX)
  runs+=("$run")
  {
    printf 'HIL_REPO=%s\n' "$(shq "$REPO_DIR")"
    printf 'HIL_NODE=%s\n' "$(shq "$node_bin")"
    # The host's HOME, so tools find their caches there (node-gyp's headers).
    printf 'HIL_HOME=%s\n' "$(shq "${HOME:-/root}")"
    printf 'HIL_HUGEPAGES=%s\n' "$(shq "${VFIO_HIL_HUGEPAGES:-16}")"
    # Which kernel this is, for the tests (VFIO_HIL_KERNEL): debian, built or
    # built-noiommu (guest-init.sh then binds no device).
    printf 'HIL_KERNEL_KIND=%s\n' "$kind"
    # The emulated IOMMU: intel (VT-d), amd (AMD-Vi) or none (built-noiommu).
    printf 'HIL_IOMMU=%s\n' "$iommu_kind"
    # The QEMU id of the hot-plug edu (behind a PCIe root port), which the
    # guest may ask to have unplugged (test/hil/device-removal).
    printf 'HIL_HOTPLUG_ID=%s\n' "$hotplug_id"
    # Colours for a terminal; plain text for CI logs (and the saved console log).
    if [[ -n ${FORCE_COLOR:-} || ( -t 1 && -z ${NO_COLOR:-} ) ]]; then
      printf 'HIL_COLOR=FORCE_COLOR=1\n'
    else
      printf 'HIL_COLOR=NO_COLOR=1\n'
    fi
    # The fuzz campaigns' seed and counts, so that the FUZZ_SEED a lane run
    # printed replays it here (test/reliability/differential).
    local fuzz
    for fuzz in FUZZ_SEED FUZZ_SEQUENCES FUZZ_FD_SEQUENCES; do
      [[ -z ${!fuzz:-} || ${!fuzz} =~ ^[0-9]+$ ]] || hil_die "$fuzz must be a whole number, got '${!fuzz}'"
      printf 'HIL_%s=%s\n' "$fuzz" "${!fuzz:-}"
    done
    # Debugging the lane: a shell command to run in the guest instead of vitest.
    printf 'HIL_EXEC=%s\n' "$(shq "${VFIO_HIL_EXEC:-}")"
    printf 'set --'
    local arg
    for arg in "$@"; do printf ' %s' "$(shq "$arg")"; done
    printf '\n'
  } >"$run/env"

  # One log per run and kernel (parallel runs in one checkout must not share a
  # file); .cache/hil/console.log points at the latest.
  local log
  if [[ -n ${VFIO_HIL_LOG:-} ]]; then
    log=$VFIO_HIL_LOG
    ((${#boots[@]} == 1)) || log="${VFIO_HIL_LOG%.log}-$name.log"
  else
    log="$log_dir/console-$stamp-$$-$name.log"
  fi
  mkdir -p "$(dirname "$log")"
  : >"$log"
  if [[ -z ${VFIO_HIL_LOG:-} ]]; then
    ln -sfn "${log##*/}" "$log_dir/console.log"
    # Keep the last ten runs' logs.
    ls -1t "$log_dir"/console-*.log 2>/dev/null | grep -v '\.dmesg\.log$' | tail -n +11 \
      | while IFS= read -r old; do rm -f "$old" "${old%.log}.dmesg.log"; done
  fi
  local what=${label[$kind]}
  [[ $iommu_kind == amd ]] && what+=", AMD-Vi (-device amd-iommu) instead of VT-d"
  hil_log "kernel: $what"
  hil_log "console log: $log (timeout ${timeout_s}s)"

  # built-noiommu: no VT-d device and no intel_iommu=on, so the mock domain
  # is the only IOMMU driver. edu stays on the bus; the guest leaves it alone.
  # AMD-Vi: QEMU's amd-iommu; the kernel's AMD IOMMU driver takes it without a command-line switch.
  local iommu=(-device intel-iommu,intremap=on) cmdline_iommu=intel_iommu=on
  [[ $iommu_kind == amd ]] && iommu=(-device amd-iommu,intremap=on) cmdline_iommu=
  [[ $kind == built-noiommu ]] && iommu=() cmdline_iommu=
  local qemu=(
    qemu-system-x86_64
    -machine q35,kernel-irqchip=split -accel tcg -cpu max -m 2G -smp 2
    "${iommu[@]}"
    -device edu
    # MSI-X for test/hil/msix-loopback (edu has none), and a device with a
    # driver of its own for test/hil/cli-bind-restore: a virtio-rng, with
    # virtio-pci (and on debian virtio_rng) bound; each test binds it to
    # vfio-pci itself and gives it back.
    -device virtio-rng-pci
    # A second edu in a hot-plug slot, for test/hil/device-removal alone: the
    # guest leaves it unbound, the test binds it and asks (unplug-relay.mjs
    # below) for QMP device_del while it holds it open. Last on the command
    # line, so the devices above keep their slots.
    -device pcie-root-port,id=hil_rp_hot,chassis=1,slot=1
    -device "edu,bus=hil_rp_hot,id=$hotplug_id"
    -qmp "unix:$run/qmp.sock,server=on,wait=off"
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap
    -virtfs "local,path=$run,mount_tag=out,security_model=none"
    -kernel "${image[$kind]}"
    -initrd "${initrd[$kind]}"
    # no_timer_check: under TCG on a busy host the boot-time check that the
    # timer interrupt arrives through the remapped IO-APIC can time out and
    # panic ("timer doesn't work through Interrupt-remapped IO-APIC").
    -append "console=ttyS0${cmdline_iommu:+ $cmdline_iommu} panic=-1 quiet no_timer_check"
    -nic none
    -nographic -no-reboot
  )

  # Every console line goes to the terminal and the log; the moment the guest
  # says it is ready is the end of the boot.
  relay() {
    local line
    while IFS= read -r line || [[ -n $line ]]; do
      line=${line%$'\r'}
      printf '%s\n' "$line"
      printf '%s\n' "$line" >>"$log"
      [[ $line == HIL-READY* && ! -f $run/ready-at ]] && hil_now >"$run/ready-at"
    done
  }

  # The guest's unplug requests: files in $run/unplug (9p), turned into QMP
  # device_del by a helper that lives as long as this boot. Its lines go to the
  # terminal and the console log.
  mkdir "$run/unplug"
  "$node_bin" "$HIL_DIR/unplug-relay.mjs" "$run/unplug" "$run/qmp.sock" "$hotplug_id" \
    2> >(while IFS= read -r line; do printf '%s\n' "$line" >&2; printf '%s\n' "$line" >>"$log"; done) &
  local relay_pid=$!

  local start end qemu_rc rc marker
  start=$(hil_now)
  interrupted=
  trap 'interrupted=1' INT TERM
  set +e
  # stdin from /dev/null: QEMU leaves the terminal alone, so Ctrl-C reaches it.
  # --foreground keeps QEMU in this process group, so Ctrl-C stops it too
  # instead of leaving it running until the timeout.
  timeout --foreground --kill-after=10 "$timeout_s" "${qemu[@]}" </dev/null 2>&1 | relay
  qemu_rc=${PIPESTATUS[0]}
  kill "$relay_pid" 2>/dev/null
  wait "$relay_pid" 2>/dev/null
  set -e
  end=$(hil_now)

  if [[ -f $run/exit-code ]]; then
    rc=$(<"$run/exit-code")
  elif marker=$(grep -ao 'HIL-EXIT=[0-9]*' "$log" | tail -n1) && [[ -n $marker ]]; then
    rc=${marker#HIL-EXIT=}
  elif [[ -n $interrupted ]]; then
    rc=130
  elif [[ $qemu_rc -eq 124 || $qemu_rc -eq 137 ]]; then
    rc=124
  else
    rc=3
  fi
  [[ -f $run/dmesg.log ]] && cp "$run/dmesg.log" "${log%.log}.dmesg.log"
  result[$name]=$rc

  echo
  hil_log "[$name] $what, $qemu_version"
  if [[ -f $run/ready-at ]]; then
    local ready
    ready=$(<"$run/ready-at")
    boot_s[$name]=$(hil_elapsed "$start" "$ready")
    tests_s[$name]=$(hil_elapsed "$ready" "$end")
    hil_log "[$name] boot ${boot_s[$name]}s, tests ${tests_s[$name]}s, total $(hil_elapsed "$start" "$end")s"
  else
    boot_s[$name]="never ready after $(hil_elapsed "$start" "$end")"
    tests_s[$name]=-
    hil_log "[$name] the guest never became ready ($(hil_elapsed "$start" "$end")s)"
  fi

  if [[ $rc -ne 0 ]]; then
    case $rc in
      130) hil_log "[$name] interrupted" ;;
      124) hil_log "[$name] TIMEOUT: the guest was killed after ${timeout_s}s (set VFIO_HIL_TIMEOUT to allow more)" ;;
      86) hil_log "[$name] the guest could not set up VFIO (see 'HIL: setup failed' above)" ;;
      3) hil_log "[$name] the guest stopped without reporting a result (qemu exit $qemu_rc): kernel panic or crash?" ;;
      *) hil_log "[$name] tests failed with exit code $rc" ;;
    esac
    local failed
    if failed=$(grep -a '^ *FAIL ' "$log" | sed 's/^ *FAIL  *//' | sort -u) && [[ -n $failed ]]; then
      hil_log "[$name] failed:"
      printf '%s\n' "$failed" | head -n 30 | sed 's/^/  - /' >&2
    fi
    hil_log "last console lines ($log):"
    tail -n 40 "$log" | sed 's/^/  | /' >&2
    # (An if, not `[[ ]] &&`: under set -e a false test as the function's last
    # command would end the whole lane before the retry below.)
    if [[ -f ${log%.log}.dmesg.log ]]; then hil_log "guest kernel log: ${log%.log}.dmesg.log"; fi
  else
    hil_log "[$name] passed"
  fi
  return 0
}

final=0
for name in "${boots[@]}"; do
  args=("$@")
  [[ $name == built-noiommu ]] && args=("${noiommu_tests[@]}")
  boot_kernel "$name" "${args[@]}"
  # A guest that dies before it is ready ran none of our code: TCG on a busy
  # host now and then trips the kernel's early boot (an int3 left behind by
  # text patching, a timer check). One more boot tells that from a real fault.
  for retry in 1 2; do
    [[ ${result[$name]} -eq 3 && ${boot_s[$name]} == never* ]] || break
    hil_log "[$name] the guest died before it was ready; booting it again ($retry of 2)"
    boot_kernel "$name" "${args[@]}"
  done
  ((final != 0)) || final=${result[$name]}
  # Ctrl-C stops the lane, not just the kernel that was running.
  [[ ${result[$name]} -eq 130 ]] && break
done

echo
hil_log "summary (prepare = download/unpack/build, 0 s when cached):"
for name in "${boots[@]}"; do
  kind=${boot_kind[$name]}
  iommu_word=
  [[ ${boot_iommu[$name]} == amd ]] && iommu_word=", AMD-Vi"
  hil_log "  $(printf '%-13s' "$name") prepare ${prep_s[$kind]}s, boot ${boot_s[$name]:--}s, tests ${tests_s[$name]:--}s, exit ${result[$name]:-not run}  (${label[$kind]}$iommu_word)"
done
exit "$final"
