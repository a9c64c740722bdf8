#!/usr/bin/env bash
# Builds the C reference for `vfio bench --ref` (the bench also builds it on
# demand into ~/.cache/node-vfio). Usage: scripts/ref/build.sh [output]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/vfio-ref}"
"${CC:-cc}" -O2 -Wall -Wextra -o "$out" "$here/ref.c"
echo "$out"
