#!/usr/bin/env bash
# npm run prebuild: makes prebuilds/linux-x64/node-vfio.node, the binary the
# package ships, against an old baseline so that it loads on the distributions
# a VFIO host still runs (RHEL 8, Debian 11, Ubuntu 20.04), not only on this one.
#
# A binary linked here (Debian 12, glibc 2.36) asks for the symbol versions of
# this glibc (pthread_once@GLIBC_2.34 ...) and, with the shared C++ runtime,
# for GCC 12's libstdc++ (GLIBCXX_3.4.29). So the compile and link run in a
# Debian 11 root (glibc 2.31, GCC 10) made with debootstrap from Debian's own
# mirror, and the C++ runtime is linked in statically (VFIO_STATIC_RUNTIME=1,
# binding.gyp). gyp still runs here, with this Node's headers: the Makefile it
# writes is then run inside the old root, where the sources, node-addon-api and
# the headers are copied to the same absolute paths. Last, the old root's own
# Node loads and runs the result.
# test/native/abi-floor.test.ts fails if the result asks for more than the floor.
#
#   npm run prebuild                   build (the root is made once, ~3-6 min, cached)
#   VFIO_BASELINE_ROOT=/path npm run prebuild   where the Debian 11 root lives
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
root=${VFIO_BASELINE_ROOT:-/var/cache/node-vfio/bullseye-build}
say() { printf '[prebuild %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

if [[ $(uname -m) != x86_64 ]]; then
  echo "prebuild: only linux-x64 is shipped; this is $(uname -m)" >&2
  exit 2
fi
if [[ $EUID != 0 ]]; then
  echo "prebuild: debootstrap and chroot need root" >&2
  exit 2
fi

if [[ ! -x $root/usr/bin/g++ ]]; then
  command -v debootstrap >/dev/null || { echo "prebuild: apt-get install debootstrap" >&2; exit 2; }
  say "making a Debian 11 build root in $root (once)"
  # An interrupted debootstrap can leave /proc mounted inside: never rm -rf through it.
  if mountpoint -q "$root/proc" 2>/dev/null; then
    echo "prebuild: $root/proc is still mounted (umount it, then rerun)" >&2
    exit 2
  fi
  rm -rf "$root"
  mkdir -p "$root"
  debootstrap --variant=minbase --include=g++,make,nodejs bullseye "$root" http://deb.debian.org/debian \
    >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; echo "prebuild: debootstrap failed ($root.log)" >&2; exit 2; }
fi
if [[ ! -x $root/usr/bin/node ]]; then   # a root made before the load check below existed
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" apt-get install -y -qq nodejs >"$root.log" 2>&1 || { echo "prebuild: nodejs did not install in $root" >&2; exit 2; }
fi
say "build root: $(chroot "$root" g++ --version | head -n1), $(chroot "$root" ldd --version | head -n1)"

# gyp, here: the same binding.gyp as every other build, release, static C++ runtime.
prefix=${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}
[[ -f $prefix/include/node/node_version.h ]] || { echo "prebuild: no node headers under $prefix/include/node" >&2; exit 2; }
work=$(mktemp -d /tmp/vfio-prebuild.XXXXXX)
trap 'rm -rf "$work" "$root$work"' EXIT
cp -r binding.gyp native package.json "$work/"
ln -s "$repo/node_modules" "$work/node_modules"
(cd "$work" && VFIO_STATIC_RUNTIME=1 VFIO_ASAN= npx --no-install node-gyp configure --nodedir="$prefix" >/dev/null)

# make, there: everything the Makefile names, at the same paths (cp -a keeps
# the times, so make does not try to rerun gyp there).
rm -rf "${root:?}$work"
mkdir -p "$root$work/node_modules" "$root$prefix/include"
cp -a "$work/binding.gyp" "$work/native" "$work/build" "$work/package.json" "$root$work/"
addon_api=$(realpath "$repo/node_modules/node-addon-api")
cp -a "$addon_api" "$root$work/node_modules/"
# gyp may also have written the real path of the headers (node_modules is a link in the scratch copy).
mkdir -p "$root$(dirname "$addon_api")"
rm -rf "${root:?}$addon_api"
cp -a "$addon_api" "$root$addon_api"
rm -rf "${root:?}$prefix/include/node"
cp -a "$prefix/include/node" "$root$prefix/include/node"
# The Makefile's regeneration rule names node-gyp's addon.gypi: present, and no newer than the Makefile.
addon_gypi=$(node -p "require.resolve('node-gyp/addon.gypi')")
mkdir -p "$root$(dirname "$addon_gypi")"
cp -a "$addon_gypi" "$root$addon_gypi"
say "compiling in the build root"
chroot "$root" make -C "$work/build" BUILDTYPE=Release V=0 -j "$(nproc)" >"$work/make.log" 2>&1 \
  || { tail -n 40 "$work/make.log" >&2; echo "prebuild: make failed" >&2; exit 2; }

mkdir -p prebuilds/linux-x64
strip --strip-all -o prebuilds/linux-x64/node-vfio.node "$root$work/build/Release/vfio.node"
say "prebuilds/linux-x64/node-vfio.node: $(stat -c %s prebuilds/linux-x64/node-vfio.node) bytes"

# Proof on the baseline itself: Debian 11's Node 12.22 (Node-API 8) loads the
# result with Debian 11's glibc and libstdc++ (GCC 10, GLIBCXX_3.4.28: 0.1.0's
# prebuild failed right here, asking for GLIBCXX_3.4.29), and it works.
cp prebuilds/linux-x64/node-vfio.node "$root$work/check.node"
chroot "$root" node -e "
  const a = require('$work/check.node');
  const b = a.allocBuffer(4096n, '4k', 0n, true);
  new Uint8Array(b.bytes())[0] = 42;
  b.close();
  let code = null;
  try { a.openContainer('/nonexistent/vfio'); } catch (e) { code = e.code; }
  if (!b.closed || code !== 'ENOENT') throw new Error('unexpected: ' + JSON.stringify({ closed: b.closed, code }));
  console.log('[prebuild] loads and runs on Debian 11 (Node ' + process.version + ', uAPI ' + a.uapiVersion + ')');
" || { echo "prebuild: the result does not load on the baseline" >&2; exit 1; }
