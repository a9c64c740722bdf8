// `vfio bind BDF --yes`: the one command that changes the host. Without --yes
// it only says what it would do.
import { bindToVfioPci, pciDevice, type BindResult } from '../sysfs.js';
import type { BindArgs } from './args.js';
import { UsageError } from './exit-codes.js';
import type { CliIo } from './io.js';

export function describeBind(r: BindResult): string {
  if (r.changes.length === 0) return `${r.address}: already bound to ${r.driver}; nothing changed`;
  return [
    `${r.address}: ${r.previousDriver ?? '(no driver)'} -> ${r.driver ?? '(no driver yet)'}`,
    'changed:',
    ...r.changes.map((c) => `  ${c}`),
    ...(r.driver === 'vfio-pci' ? [] : ['warning: the device is not bound to vfio-pci after drivers_probe (is vfio-pci loaded?)']),
  ].join('\n');
}

export function runBind(args: BindArgs, io: CliIo): number {
  const root = io.sysfsRoot ?? '/';
  if (!args.yes) {
    const dev = pciDevice(args.address, root);
    const now = dev ? (dev.driver ?? 'no driver') : 'not present';
    throw new UsageError(`bind changes the host (${args.address}, now: ${now}): add --yes to write driver_override, `
      + 'unbind it from its driver and probe vfio-pci');
  }
  const r = bindToVfioPci(args.address, root);
  io.stdout.write(args.json ? `${JSON.stringify(r, null, 2)}\n` : `${describeBind(r)}\n`);
  return 0;
}
