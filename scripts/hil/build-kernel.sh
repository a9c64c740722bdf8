#!/usr/bin/env bash
# Builds the HIL lane's second guest kernel from Debian's linux-source package
# (pinned in kernel.env) with kernel-built.config, once per machine: the
# bzImage is cached under the source version and the fragment's hash, so only
# the first run pays (~10 minutes on 2 cores). Prints the bzImage path.
#
#   build-kernel.sh            fetch, configure, verify, build (cached)
#   build-kernel.sh --config   stop after the verified .config (no compile)
#
# Environment: VFIO_HIL_JOBS (make -j, default nproc).
set -euo pipefail
. "$(dirname "$0")/common.sh"
hil_stdout_is_result

config_only=
[[ ${1:-} == --config ]] && config_only=1
fragment="$HIL_DIR/kernel-built.config"
# Keyed by what decides the kernel: the source version (in the path) and the
# fragment. (After changing how this script configures, delete the cache dir.)
frag_hash=$(sha256sum <"$fragment" | cut -c1-12)
src_root="$HIL_CACHE/src-$HIL_SRC_VERSION"
src="$src_root/$HIL_SRC_PKG"
# One object tree per source version: a fragment edit recompiles only what it touches.
obj="$HIL_CACHE/obj-$HIL_SRC_VERSION"
out="$HIL_CACHE/built-$HIL_SRC_VERSION-$frag_hash"

if [[ -f $out/bzImage && -z $config_only ]]; then
  hil_result "$out/bzImage"
  exit 0
fi

ensure_build_deps() {
  local pkg missing=()
  # flex/bison: kconfig and dtc parsers; libelf-dev: objtool; libssl-dev: sign-file and
  # certs; bc: timeconst. No dwarves: debug info is off in the fragment.
  for pkg in build-essential bc flex bison libelf-dev libssl-dev xz-utils; do
    [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == 'install ok installed' ]] || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  hil_apt_install "${missing[@]}"
}

# apt-get download + dpkg-deb -x: nothing is installed on the host; the package
# holds one tarball of the tree, unpacked once per source version.
fetch_source() {
  [[ -f $src_root/.extracted ]] && return 0
  local work
  mkdir -p "$HIL_CACHE"
  work=$(mktemp -d "$HIL_CACHE/src-fetch.XXXXXX")
  # apt downloads as the unprivileged _apt user: it must be able to write here.
  chmod 0777 "$work"
  hil_log "downloading $HIL_SRC_PKG=$HIL_SRC_VERSION"
  if ! (cd "$work" && apt-get download -q "$HIL_SRC_PKG=$HIL_SRC_VERSION") >"$work/apt.log" 2>&1; then
    [[ $(id -u) -eq 0 ]] && apt-get update -q >&2
    (cd "$work" && apt-get download -q "$HIL_SRC_PKG=$HIL_SRC_VERSION") >"$work/apt.log" 2>&1 || {
      cat "$work/apt.log" >&2
      rm -rf "$work"
      hil_die "cannot download $HIL_SRC_PKG=$HIL_SRC_VERSION; 'apt-cache policy $HIL_SRC_PKG' shows what the archive has (pin it in scripts/hil/kernel.env)"
    }
  fi
  dpkg-deb -x "$work"/*.deb "$work/pkg"
  local tarball="$work/pkg/usr/src/$HIL_SRC_PKG.tar.xz"
  [[ -f $tarball ]] || { rm -rf "$work"; hil_die "the package has no usr/src/$HIL_SRC_PKG.tar.xz"; }
  hil_log "unpacking $HIL_SRC_PKG"
  rm -rf "$src_root"
  mkdir -p "$src_root"
  tar -xf "$tarball" -C "$src_root"
  rm -rf "$work"
  [[ -f $src/Makefile ]] || hil_die "the tarball did not unpack to $src"
  touch "$src_root/.extracted"
}

# Every CONFIG_X=v line of the fragment must be in the final .config as is
# (=n: absent or "is not set"). Kconfig silently drops an option whose
# dependencies are missing; this makes that a build failure instead of a
# kernel that boots without, say, IOMMUFD_TEST.
verify_config() {
  local config=$1 line name value bad=0
  while IFS= read -r line; do
    [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]] || continue
    name=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    if [[ $value == n ]]; then
      if grep -q "^$name=" "$config"; then
        hil_log "config: $name should be off, is $(grep "^$name=" "$config")"
        bad=1
      fi
    elif ! grep -qx "$name=$value" "$config"; then
      hil_log "config: $name=$value did not take: $(grep -E "^(# )?$name[= ]" "$config" || echo 'absent (a dependency is missing?)')"
      bad=1
    fi
  done <"$fragment"
  ((bad == 0)) || hil_die "the merged .config lacks options from scripts/hil/kernel-built.config (see above)"
}

configure() {
  mkdir -p "$obj"
  hil_log "configuring: x86_64_defconfig kvm_guest.config + kernel-built.config"
  make -s -C "$src" O="$obj" x86_64_defconfig kvm_guest.config >"$obj/config.log" 2>&1 \
    || { cat "$obj/config.log" >&2; hil_die "make defconfig failed"; }
  # -m: merge only; olddefconfig then resolves the dependencies once.
  "$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$fragment" >>"$obj/config.log" 2>&1 \
    || { cat "$obj/config.log" >&2; hil_die "merge_config.sh failed"; }
  make -s -C "$src" O="$obj" olddefconfig >>"$obj/config.log" 2>&1 \
    || { cat "$obj/config.log" >&2; hil_die "make olddefconfig failed"; }
  verify_config "$obj/.config"
  hil_log "config verified: all $(grep -c '^CONFIG_' "$fragment") fragment options set"
}

mkdir -p "$HIL_CACHE"
# One build per machine at a time: a second lane (another checkout) waits
# here and then finds the bzImage cached, instead of racing in the same tree.
exec {build_lock}>"$HIL_CACHE/.build-kernel.lock"
flock "$build_lock"
if [[ -f $out/bzImage && -z $config_only ]]; then
  hil_result "$out/bzImage"
  exit 0
fi

ensure_build_deps
fetch_source
configure
if [[ -n $config_only ]]; then
  hil_result "$obj/.config"
  exit 0
fi

jobs=${VFIO_HIL_JOBS:-$(nproc)}
hil_log "building bzImage (make -j$jobs; ~10 min on 2 cores; log: $obj/build.log)"
start=$(hil_now)
# nice: the build shares the machine with whatever else runs (other test lanes).
if ! nice -n 10 make -C "$src" O="$obj" -j"$jobs" bzImage >"$obj/build.log" 2>&1; then
  tail -n 40 "$obj/build.log" >&2
  hil_die "kernel build failed (full log: $obj/build.log)"
fi
hil_log "bzImage built in $(hil_elapsed "$start" "$(hil_now)")s"
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
cp "$obj/arch/x86/boot/bzImage" "$obj/.config" "$out.tmp/"
make -s -C "$src" O="$obj" kernelrelease >"$out.tmp/release"
rm -rf "$out"
mv "$out.tmp" "$out"
# Kernels of earlier fragments stay (13 MB each): a lane started before this
# build may be about to boot one.
hil_result "$out/bzImage"
