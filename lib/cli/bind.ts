// `vfio bind BDF --yes` and `vfio unbind BDF --yes`: the only commands that
// change the host. Without --yes each says what it would do and changes nothing.
import { bindToVfioPci, describeRestorePlan, pciDevice, restoreDriver, type BindResult, type RestoreResult } from '../sysfs.js';
import type { BindArgs, UnbindArgs } from './args.js';
import { UsageError } from './exit-codes.js';
import type { CliIo } from './io.js';

export function describeBind(r: BindResult): string {
  if (r.changes.length === 0) return `${r.address}: already bound to ${r.driver}; nothing changed`;
  return [
    `${r.address}: ${r.previousDriver ?? '(no driver)'} -> ${r.driver ?? '(no driver yet)'}`,
    'changed:',
    ...r.changes.map((c) => `  ${c}`),
    ...(r.driver === 'vfio-pci' ? [] : ['warning: the device is not bound to vfio-pci after drivers_probe (is vfio-pci loaded?)']),
    ...(r.record ? [`to give it back: vfio unbind ${r.address} --yes`] : []),
  ].join('\n');
}

export function describeRestore(r: RestoreResult): string {
  const wanted = r.target === 'drivers_probe' ? 'whatever drivers_probe picks (no record from vfio bind)' : (r.target ?? '(no driver)');
  const lines = [
    `${r.address}: ${r.previousDriver ?? '(no driver)'} -> ${r.driver ?? '(no driver)'}`,
    'changed:',
    ...r.changes.map((c) => `  ${c}`),
  ];
  if (r.target !== 'drivers_probe' && r.driver !== r.target) lines.push(`warning: wanted ${wanted}, but the device is with ${r.driver ?? 'no driver'}`);
  return lines.join('\n');
}

export function runBind(args: BindArgs, io: CliIo): number {
  const root = io.sysfsRoot ?? '/';
  if (!args.yes) {
    const dev = pciDevice(args.address, root);
    const now = dev ? (dev.driver ?? 'no driver') : 'not present';
    throw new UsageError(`bind changes the host (${args.address}, now: ${now}): add --yes to record its driver, write `
      + 'driver_override, unbind it from its driver and probe vfio-pci');
  }
  const r = bindToVfioPci(args.address, root);
  io.stdout.write(args.json ? `${JSON.stringify(r, null, 2)}\n` : `${describeBind(r)}\n`);
  return 0;
}

export function runUnbind(args: UnbindArgs, io: CliIo): number {
  const root = io.sysfsRoot ?? '/';
  if (!args.yes) {
    throw new UsageError(`unbind changes the host: ${describeRestorePlan(args.address, root)}. Add --yes to do it`);
  }
  const r = restoreDriver(args.address, root);
  io.stdout.write(args.json ? `${JSON.stringify(r, null, 2)}\n` : `${describeRestore(r)}\n`);
  return 0;
}
