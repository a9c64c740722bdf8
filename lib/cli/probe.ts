// `vfio probe`: everything a user needs to know before mapping anything, from
// sysfs (always) and from a real container (when the native backend works).
// It only reads: binding a device is `vfio bind BDF --yes`.
import type { Backend, IommuInfo, MemlockStatus } from '../backend.js';
import { renderTable } from '../bench/text-table.js';
import { formatBytes } from '../bench/suites.js';
import {
  dmaEntryLimit, hugepagePools, listIommuGroups, memlockLimit, thpMode, usableVfioGroup, vfioNodeAccess, vfioPresence,
  type IommuGroupInfo, type VfioNodeAccess, type VfioPresence,
} from '../sysfs.js';
import type { ProbeArgs } from './args.js';
import { attachGroup, EXTENSION_NAMES, type BackendOpener } from './backends.js';
import type { CliIo } from './io.js';

export const PROBE_SCHEMA = 'node-vfio/probe@1';

export interface ContainerReport {
  group: number;
  iommuType?: string;
  /** Page sizes as byte counts, smallest first. */
  pageSizes?: number[];
  /** Inclusive IOVA ranges as hex strings (64-bit values do not fit a JSON number). */
  ranges?: Array<{ start: string; last: string }>;
  dmaAvail?: number | null;
  migration?: { flags: number; pageSizes: number[]; maxDirtyBitmapSize: number } | null;
  memlock?: { limit: number | null; locked: number; exempt: boolean };
  error?: string;
}

export interface ProbeReport {
  schema: typeof PROBE_SCHEMA;
  vfio: VfioPresence;
  native: { available: boolean; reason: string };
  apiVersion: number | null;
  extensions: Record<string, boolean> | null;
  /** node: whether this user may open /dev/vfio/<id> ('absent' until a device of the group is bound to vfio-pci). */
  groups: Array<Omit<IommuGroupInfo, 'devices'> & { node: VfioNodeAccess; devices: Array<Record<string, unknown>> }>;
  container: ContainerReport | null;
  memlock: { soft: number | null; hard: number | null } | null;
  dmaEntryLimit: number | null;
  hugepages: Array<{ pageSize: number; total: number; free: number }>;
  thp: string | null;
}

function bitmapSizes(bitmap: bigint): number[] {
  const out: number[] = [];
  for (let b = 0n; b < 64n; b++) if ((bitmap >> b) & 1n) out.push(Number(1n << b));
  return out;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

function containerReport(group: number, iommuType: string, info: IommuInfo, memlock: MemlockStatus): ContainerReport {
  return {
    group,
    iommuType,
    pageSizes: bitmapSizes(info.pageSizes),
    ranges: info.ranges.map((r) => ({ start: hex(r.start), last: hex(r.last) })),
    dmaAvail: info.dmaAvail,
    migration: info.migration && {
      flags: info.migration.flags,
      pageSizes: bitmapSizes(info.migration.pageSizes),
      maxDirtyBitmapSize: Number(info.migration.maxDirtyBitmapSize),
    },
    memlock: { limit: memlock.limit !== null ? Number(memlock.limit) : null, locked: Number(memlock.locked), exempt: memlock.exempt },
  };
}

export function collectProbe(args: ProbeArgs, root: string, open: BackendOpener | null): ProbeReport {
  const groups = listIommuGroups(root);
  const ml = memlockLimit(root);
  const report: ProbeReport = {
    schema: PROBE_SCHEMA,
    vfio: vfioPresence(root),
    native: { available: false, reason: 'not tried' },
    apiVersion: null,
    extensions: null,
    groups: groups.map((g) => ({ ...g, node: vfioNodeAccess(g.id, root), devices: g.devices.map((d) => ({ ...d })) })),
    container: null,
    memlock: ml && { soft: ml.soft === null ? null : Number(ml.soft), hard: ml.hard === null ? null : Number(ml.hard) },
    dmaEntryLimit: dmaEntryLimit(root),
    hugepages: hugepagePools(root).map((p) => ({ pageSize: Number(p.pageSize), total: p.total, free: p.free })),
    thp: thpMode(root),
  };
  let backend: Backend;
  try {
    if (!open) throw new Error('no backend loader');
    const opened = open('native');
    backend = opened.backend;
    report.native = { available: true, reason: opened.reason };
  } catch (err) {
    report.native = { available: false, reason: (err as Error).message };
    return report;
  }
  try {
    const c = backend.openContainer();
    try {
      report.apiVersion = c.apiVersion();
      report.extensions = Object.fromEntries(EXTENSION_NAMES.map((n) => [n, c.checkExtension(n)]));
    } finally {
      c.close();
    }
  } catch (err) {
    report.native.reason += `; container: ${(err as Error).message}`;
    return report;
  }
  // The group asked for, else one a container can be opened on.
  const groupId = args.group ?? usableVfioGroup(root);
  if (groupId === null) return report;
  try {
    const a = attachGroup(backend, groupId);
    try {
      report.container = containerReport(groupId, a.iommuType, a.container.info(), a.container.memlock());
    } finally {
      a.close();
    }
  } catch (err) {
    report.container = { group: groupId, error: (err as Error).message };
  }
  return report;
}

const NODE_LABEL: Record<VfioNodeAccess, string> = { rw: 'yours', denied: 'no access', absent: '-' };

const vendorDevice = (d: Record<string, unknown>) => {
  const h = (v: unknown, w: number) => (typeof v === 'number' ? v.toString(16).padStart(w, '0') : '?');
  return `${h(d.vendor, 4)}:${h(d.device, 4)}`;
};

/** Byte counts as 4 KiB, 2 MiB ... (the report keeps them as numbers). */
const size = (n: number) => formatBytes(BigInt(n));
const bytes = (v: number | null | undefined) => (v === null || v === undefined ? 'unlimited' : size(v));

// No group at all means no IOMMU driver bound any device: almost always an
// IOMMU turned off in the firmware or not asked for on the kernel command line.
export const IOMMU_OFF_HINT = [
  '  The IOMMU is off (no driver put any device in a group). To turn it on:',
  '    1. in the firmware setup, enable VT-d (Intel) or AMD-Vi / "IOMMU" (AMD);',
  '    2. add intel_iommu=on (Intel) or amd_iommu=on (AMD) to the kernel command line',
  '       (e.g. GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and reboot;',
  '    3. check: ls /sys/kernel/iommu_groups, and dmesg | grep -i -e DMAR -e AMD-Vi.',
];

export function formatProbe(r: ProbeReport): string {
  const out: string[] = [];
  out.push(`VFIO: ${r.vfio.present ? 'present' : 'absent'} (${r.vfio.reason})`);
  out.push(`  modules: vfio ${r.vfio.modules.vfio ? 'yes' : 'no'}, vfio_pci ${r.vfio.modules.vfioPci ? 'yes' : 'no'}, `
    + `vfio_iommu_type1 ${r.vfio.modules.type1 ? 'yes' : 'no'}; dma_entry_limit ${r.dmaEntryLimit ?? '-'}`);
  out.push(`Native backend: ${r.native.available ? 'available' : 'unavailable'} (${r.native.reason})`);
  if (r.apiVersion !== null) out.push(`  API version ${r.apiVersion}`);
  if (r.extensions) {
    const on = Object.entries(r.extensions).filter(([, v]) => v).map(([k]) => k);
    out.push(`  extensions: ${on.length ? on.join(', ') : 'none'}`);
  }
  out.push('');
  if (r.groups.length === 0) out.push('IOMMU groups: none', ...IOMMU_OFF_HINT);
  else {
    out.push(`IOMMU groups (${r.groups.length}):`);
    const rows = r.groups.flatMap((g) => g.devices.map((d, i) => [
      i === 0 ? String(g.id) : '', i === 0 ? (g.viable ? 'yes' : 'no') : '', i === 0 ? NODE_LABEL[g.node] : '', String(d.address), vendorDevice(d),
      typeof d.classCode === 'number' ? d.classCode.toString(16).padStart(6, '0') : '?', String(d.driver ?? '-'),
    ]));
    out.push(renderTable(['group', 'viable', '/dev/vfio', 'device', 'vendor:device', 'class', 'driver'], rows));
    const denied = r.groups.filter((g) => g.node === 'denied').map((g) => g.id);
    if (denied.length) {
      out.push(`  you may not open /dev/vfio/${denied.join(', /dev/vfio/')}: its owner or a udev rule must give you the node `
        + '(e.g. SUBSYSTEM=="vfio", OWNER="you"), or run as root');
    }
    const blocked = r.groups.filter((g) => !g.viable);
    if (blocked.length) out.push(`  not viable until bound to vfio-pci: ${blocked.flatMap((g) => g.blockers).join(', ')}`);
  }
  out.push('');
  if (r.container) {
    const c = r.container;
    if (c.error) out.push(`Container on group ${c.group}: ${c.error}`);
    else {
      out.push(`Container on group ${c.group} (${c.iommuType}), VFIO_IOMMU_GET_INFO:`);
      out.push(`  page sizes: ${c.pageSizes!.map(size).join(', ')}`);
      out.push(`  IOVA ranges: ${c.ranges!.map((x) => `${x.start}-${x.last}`).join(', ')}`);
      out.push(`  DMA mappings available: ${c.dmaAvail ?? 'not reported'}`);
      out.push(`  dirty tracking (migration cap): ${c.migration
        ? `yes, page sizes ${c.migration.pageSizes.map(size).join(', ')}, max bitmap ${size(c.migration.maxDirtyBitmapSize)}`
        : 'no'}`);
      if (c.memlock) out.push(`  locked memory: ${size(c.memlock.locked)} of ${bytes(c.memlock.limit)}${c.memlock.exempt ? ' (CAP_IPC_LOCK: exempt)' : ''}`);
    }
  } else {
    out.push(`Container: not opened (${r.native.available ? 'no viable group with devices; pass --group N' : 'native backend unavailable'})`);
  }
  out.push('');
  out.push(`RLIMIT_MEMLOCK: ${r.memlock ? `soft ${bytes(r.memlock.soft)}, hard ${bytes(r.memlock.hard)}` : 'unknown'}`);
  out.push(`Huge pages: ${r.hugepages.length
    ? r.hugepages.map((h) => `${size(h.pageSize)}: ${h.free} free of ${h.total}`).join('; ')
    : 'none'}`);
  out.push(`THP: ${r.thp ?? 'not available'}`);
  return `${out.join('\n')}\n`;
}

export function runProbe(args: ProbeArgs, io: CliIo, open: BackendOpener | null): number {
  const report = collectProbe(args, io.sysfsRoot ?? '/', open);
  io.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : formatProbe(report));
  return 0;
}
