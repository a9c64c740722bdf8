// The help text. Kept next to the parser so a new option is documented where it is added.
export const USAGE = `Usage: vfio <command> [options]

Commands:
  probe               What this host offers for VFIO: modules, API version, extensions,
                      IOMMU groups and their devices, container GET_INFO, memlock,
                      huge pages, THP. Read-only.
  bench               Measure what DMA mapping costs, per strategy, backing and size.
                      Uses the simulated backend unless --group or --device is given.
  bind BDF --yes      Bind a PCI device to vfio-pci (driver_override, unbind from its
                      driver, drivers_probe) and print what was written. The only
                      command that changes the host; without --yes it changes nothing.
  help [command]      This text.

probe options:
  --json              Machine-readable output (schema node-vfio/probe@1).
  --group N           Open IOMMU group N and report its container's GET_INFO.

bench options:
  --group N           Native backend on IOMMU group N.
  --device BDF        Native backend on the group of this PCI device (e.g. 0000:00:03.0).
  --backend NAME      sim | native | auto (default: native with --group/--device, else sim).
  --suite LIST        Comma-separated: matrix (default), scaling, patterns, unmap, dirty,
                      kernel-pin, all. kernel-pin times the kernel's own pin path
                      (iommufd_access_pin_pages via IOMMUFD_TEST; needs no group; says
                      "unavailable" and why on kernels without CONFIG_IOMMUFD_TEST).
  --reps N            Measured repetitions per cell (default 30).
  --warmup N          Discarded repetitions per cell first (default 3).
  --json | --csv      Output format (default: a table). JSON schema: node-vfio/bench@1.
  --report DIR        Also write DIR/index.html: self-contained, inline SVG charts.
  --ref               Also time the same ioctls from a small C program (native only).
  --compare FILE      Compare medians with a baseline written by --json.
  --max-regression P  Allowed growth of a cell's median, e.g. 10% (default 10%).
  --min-delta-ns N    Growth below N ns never counts as a regression (default 25).
  --max-memory SIZE   Largest buffer a cell may allocate, e.g. 512M, 1G
                      (default: a quarter of free memory, at most 1 GiB).
  --no-progress       No progress bar (it is shown on stderr only when it is a terminal).
  --interface I       type1 (default) | iommufd | both: which kernel interface the cells go
                      through. iommufd maps into an IOAS with the group's device bound (its
                      /dev/vfio/devices cdev) and attached; both adds an interface column.

Global options:
  --debug             Print stack traces on errors.
  -h, --help          Help.   -V, --version   Version.

Exit codes:
  0  success
  1  runtime error (the message and a hint are printed; --debug adds the stack)
  2  usage error (bad option or value, unusable --compare baseline)
  3  regression: bench --compare found cells slower than --max-regression allows
`;
