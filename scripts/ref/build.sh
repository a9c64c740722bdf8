#!/usr/bin/env bash
# Builds the C references: vfio-ref for `vfio bench --ref`, and vfio-irq-ref
# (beside it) for `vfio bench --suite irq` (the bench also builds them on
# demand into ~/.cache/node-vfio). Usage: scripts/ref/build.sh [output]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/vfio-ref}"
"${CC:-cc}" -O2 -Wall -Wextra -o "$out" "$here/ref.c"
"${CC:-cc}" -O2 -Wall -Wextra -o "$(dirname "$out")/vfio-irq-ref" "$here/irq-ref.c"
echo "$out"
