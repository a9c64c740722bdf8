// The help text: an overview (`vfio --help`) and one page per command
// (`vfio bench --help`, `vfio help bench`). Kept next to the parser so a new
// option is documented where it is added.
import { DEFAULT_SIM_IOMMU, SIM_IOMMU_NAMES, SIM_IOMMU_PROFILES } from '../open.js';

const SIM_IOMMU_HELP = SIM_IOMMU_NAMES
  .map((n) => `                        ${n}${n === DEFAULT_SIM_IOMMU ? ' (default)' : ''}: ${SIM_IOMMU_PROFILES[n].description}`)
  .join('\n');

export const COMMANDS = ['probe', 'bench', 'bind', 'unbind'] as const;
export type CommandName = (typeof COMMANDS)[number];

export function isCommand(name: string | undefined): name is CommandName {
  return (COMMANDS as readonly string[]).includes(name ?? '');
}

const GLOBAL = `Global options:
  --debug             Print stack traces on errors.
  -h, --help          Help (vfio <command> --help: that command's options).
  -V, --version       Version.
`;

const EXIT_CODES = `Exit codes:
  0  success
  1  runtime error (the message and a hint are printed; --debug adds the stack)
  2  usage error (bad option or value, unusable --compare or --report path)
  3  regression: bench --compare found cells slower than --max-regression allows
`;

export const USAGE = `Usage: vfio <command> [options]

Commands:
  probe               What this host offers for VFIO: modules, API version, extensions,
                      IOMMU groups and their devices, container GET_INFO, memlock,
                      huge pages, THP. Read-only.
  bench               Measure what DMA mapping costs, per strategy, backing and size.
                      Uses the simulated backend unless --group or --device is given.
  bind BDF --yes      Bind a PCI device to vfio-pci (driver_override, unbind from its
                      driver, drivers_probe), record the driver it had under
                      /run/node-vfio, and print what was written.
  unbind BDF --yes    Give a device bound by "vfio bind" back to the driver it had.
                      bind and unbind are the only commands that change the host;
                      without --yes they change nothing.
  help [command]      This text, or one command's options.

Run "vfio help <command>" (or "vfio <command> --help") for a command's options.

${GLOBAL}
${EXIT_CODES}`;

const PROBE = `Usage: vfio probe [--json] [--group N]

What this host offers for VFIO: modules, API version, extensions, the IOMMU
driver (intel-iommu, amd-iommu: its units, the group's unit, domain type and
reserved regions) and which sim profile imitates it (vfio bench --sim-iommu),
IOMMU groups and their devices, container GET_INFO, memlock, huge pages, THP.
Read-only: it never writes to sysfs (binding a device is "vfio bind BDF --yes",
giving it back "vfio unbind BDF --yes").

Options:
  --json              Machine-readable output (schema node-vfio/probe@1).
  --group N           Open IOMMU group N and report its container's GET_INFO.

${GLOBAL}`;

const BENCH = `Usage: vfio bench [options]

Measure what DMA mapping costs, per strategy, backing and size. Uses the
simulated backend (figures labelled SIMULATED) unless --group or --device is given.

Options:
  --group N           Native backend on IOMMU group N.
  --device BDF        Native backend on the group of this PCI device (e.g. 0000:00:03.0).
  --backend NAME      sim | native | auto (default: native with --group/--device, else sim).
  --sim-iommu NAME    The IOMMU the simulated backend imitates (its page sizes, IOVA ranges, DMA_CC):
${SIM_IOMMU_HELP}
                      Not with a native run, which measures the host's own IOMMU.
  --suite LIST        Comma-separated: matrix (default), scaling, patterns, unmap, dirty,
                      kernel-pin, overhead, irq, all. kernel-pin times the kernel's own pin path
                      (iommufd_access_pin_pages via IOMMUFD_TEST; needs no group; says
                      "unavailable" and why on kernels without CONFIG_IOMMUFD_TEST).
                      overhead times the library's own cost per call (N-API, the plan
                      executor, the planner) against a cheap real system call and a C
                      loop making it; needs no VFIO, only the addon on Linux. It takes its
                      own counts (5 rounds of 200 timed samples); --warmup 0 skips its warm-up.
                      irq (by name only, not in all) times edu's raise register (BAR0 + 0x60)
                      -> the JS 'interrupt' listener, MSI and INTx, beside a C program
                      (scripts/ref/irq-ref.c) that waits on the same kind of eventfd with
                      epoll, in alternating blocks of the same run: min / median / p99 and
                      the JS / C ratio. Needs an edu (--device BDF); 1000 runs per row,
                      its own count; --warmup 0 skips its 50 warm-up runs per block. On the
                      sim: the sim's delivery, labelled simulated, no C reference.
                      Where no real edu is measured (the sim, or no edu) it also times
                      delivery on this host with no VFIO: a native thread writes an
                      eventfd -> C epoll_wait, a bare libuv loop, and the addon's own
                      interrupt path to a JS listener and to await wait() (2000 events
                      per waiter, pinned to two CPUs), and prints JS / C (target 1.5x).
  --reps N            Measured repetitions per cell (default 30).
  --warmup N          Discarded repetitions per cell first (default 3). The figures timed
                      from JS (planner overhead, JS end-to-end) are also warmed until they
                      stop falling (V8 compiles as it runs; >= 16,000 calls, at most 3 s
                      per backing); --warmup 0 skips that too, and says they are cold.
  --json | --csv      Output format (default: a table). JSON schema: node-vfio/bench@1.
  --report DIR        Also write DIR/index.html: self-contained, inline SVG charts.
                      DIR is checked before the run: it must be (or be creatable in)
                      a writable directory.
  --ref               Also time the same ioctls from a small C program, and its loop in
                      this process beside each cell (native only).
  --compare FILE      Compare medians with a baseline written by --json.
  --max-regression P  Allowed growth of a cell's median, e.g. 10% (default 10%).
  --min-delta-ns N    Growth below N ns never counts as a regression (default 25).
  --max-memory SIZE   Largest buffer a cell may allocate, e.g. 512M, 1G
                      (default: a quarter of free memory, at most 1 GiB).
  --irq-runs N        Timed interrupts per row of --suite irq (default 1000 on a
                      device, 2000 on the host delivery table).
  --no-progress       No progress line (it is shown on stderr only when it is a
                      terminal: cell, size, and an estimate of the time left).
  --interface I       type1 (default) | iommufd | both: which kernel interface the cells go
                      through. iommufd maps into an IOAS with the group's device bound (its
                      /dev/vfio/devices cdev) and attached; both adds an interface column.

Examples:
  vfio bench                                  the kernel thread's matrix, simulated
  vfio bench --sim-iommu amd-vi               the same, on a simulated AMD-Vi IOMMU
  vfio bench --device 0000:00:03.0 --suite all --report out/
  vfio bench --suite overhead                 what the library adds per call, any Linux host
  vfio bench --device 0000:00:03.0 --suite irq   interrupt latency on edu, JS beside C
  vfio bench --json > base.json; vfio bench --compare base.json --max-regression 10%

${GLOBAL}
${EXIT_CODES}`;

const BIND = `Usage: vfio bind BDF --yes [--json]
       vfio bind BDF --restore --yes [--json]

Bind the PCI device BDF (e.g. 0000:00:03.0) to vfio-pci: record the driver it
has in /run/node-vfio/bind-BDF.json (for "vfio unbind"), write driver_override,
unbind it from its driver, and ask drivers_probe; print each write. Without
--yes it prints what it would do and changes nothing (exit 2).

Options:
  -y, --yes           Really write to sysfs.
  --restore           Give the device back instead: the same as "vfio unbind BDF".
  --json              Machine-readable output.

${GLOBAL}`;

const UNBIND = `Usage: vfio unbind BDF --yes [--json]

Give the PCI device BDF back to the driver "vfio bind" took it from (the record
in /run/node-vfio/bind-BDF.json): unbind it from vfio-pci, put driver_override
back as it was, bind it to that driver (drivers/NAME/bind), and remove the
record. A device that had no driver is left with none. Without a record (bound
by hand, or before a reboot cleared /run): unbind from vfio-pci, clear
driver_override, and let drivers_probe choose. A device another driver holds
is left alone. Without --yes it prints what it would do and changes nothing
(exit 2).

Options:
  -y, --yes           Really write to sysfs.
  --json              Machine-readable output.

${GLOBAL}`;

export const COMMAND_USAGE: Record<CommandName, string> = { probe: PROBE, bench: BENCH, bind: BIND, unbind: UNBIND };

/** The overview, or one command's page. */
export function usageFor(topic: CommandName | null): string {
  return topic === null ? USAGE : COMMAND_USAGE[topic];
}
