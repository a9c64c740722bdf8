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
