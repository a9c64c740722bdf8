# Sourced by the scripts in scripts/hil/: paths, logging, the pinned kernel.
# shellcheck shell=bash

HIL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HIL_DIR/../.." && pwd)

# shellcheck source=kernel.env
. "$HIL_DIR/kernel.env"

# Downloads and the built initramfs live outside the checkout: they depend only
# on the pinned kernel and the scripts, so every clone on a machine (CI
# workspaces are fresh clones) reuses them instead of downloading ~100 MB again,
# and nothing large sits in the tree that the guest sees over 9p.
HIL_CACHE=${VFIO_HIL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/node-vfio-hil}
HIL_KERNEL_DIR="$HIL_CACHE/kernel-$HIL_KERNEL_VERSION"

hil_log() { printf '[hil %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
hil_die() { hil_log "error: $*"; exit 2; }

# Seconds since the epoch with microseconds, for durations (bash 5).
hil_now() { printf '%s' "$EPOCHREALTIME"; }
hil_elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Installs the named Debian packages (as root), with every line apt prints on
# stderr: several scripts here print only their result on stdout, and the
# caller captures that as a path. Updates the package lists first when none
# have been fetched; Debian keeps them compressed (*_Packages.lz4), hence the
# trailing glob.
hil_apt_install() {
  [[ $(id -u) -eq 0 ]] || hil_die "missing $*; as root: apt-get install -y --no-install-recommends $*"
  hil_log "installing $*"
  compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

# For a script whose stdout is its result (a path that run.sh captures): from
# this call on, everything the script and its children print goes to stderr,
# and only hil_result writes to the caller's stdout. A chatty tool (apt-get,
# make) can then never end up in the captured path.
hil_stdout_is_result() { exec {HIL_RESULT_FD}>&1 1>&2; }
hil_result() { printf '%s\n' "$@" >&"$HIL_RESULT_FD"; }
