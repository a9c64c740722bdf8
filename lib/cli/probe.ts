// `vfio probe`: everything a user needs to know before mapping anything, from
// sysfs (always) and from a real container (when the native backend works).
// It only reads: binding a device is `vfio bind BDF --yes`.
import type { Backend, HostIommu, IommuInfo, IovaRange, MemlockStatus } from '../backend.js';
import { machineHostView, SIM_IOMMU_NAMES, SIM_IOMMU_PROFILES, profilesMatching, type SimIommuName } from '../open.js';
import { renderTable } from '../bench/text-table.js';
import { formatBytes } from '../bench/suites.js';
import type { IommuGroupInfo, VfioNodeAccess, VfioPresence } from '../sysfs.js';
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

/** The host's IOMMU: its driver, its units, the probed group's unit, and the sim profile that imitates it. */
export interface IommuReport {
  /** 'intel-iommu', 'amd-iommu', another driver, or 'none'. */
  name: string;
  description: string;
  driver: string | null;
  units: Array<{ name: string; driver: string; predicted: { addressWidth: number; pageSizes: number[]; snoopControl: boolean | null } | null }>;
  group: { id: number; unit: string | null; type: string | null; reserved: Array<{ start: string; last: string; type: string }> } | null;
  /**
   * Which sim profile (vfio bench --sim-iommu) answers as this host does. `matches`: the profiles whose geometry
   * equals what `basis` gave; `closest`: the one to use when none matches exactly (same driver), with `differs`.
   */
  simProfile: { matches: string[]; closest: string | null; basis: 'GET_INFO' | 'registers' | 'driver' | 'none'; differs: string[] };
}

export interface ProbeReport {
  schema: typeof PROBE_SCHEMA;
  /** The IOMMU behind the groups (sysfs: /sys/class/iommu, the group's type and reserved regions, the device's iommu link). */
  iommu: IommuReport;
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

const MSI_WINDOW: IovaRange = { start: 0xfee0_0000n, last: 0xfeef_ffffn };

/** What the sim profiles of the host's driver would need to change to match this geometry. */
function differences(name: SimIommuName, pageSizes: bigint, ranges: readonly IovaRange[]): string[] {
  const p = SIM_IOMMU_PROFILES[name];
  const out: string[] = [];
  if (p.pageSizes !== pageSizes) out.push(`page sizes 0x${pageSizes.toString(16)} (the profile has 0x${p.pageSizes.toString(16)})`);
  const text = (rs: readonly IovaRange[]) => rs.map((r) => `${hex(r.start)}-${hex(r.last)}`).join(', ');
  if (text(p.iovaRanges) !== text(ranges)) out.push(`IOVA ranges ${text(ranges)} (the profile has ${text(p.iovaRanges)})`);
  return out;
}

/**
 * The sim profile for this host: from GET_INFO when a container was opened (exact), else from what the VT-d
 * unit's capability register predicts, else from the driver alone.
 */
function matchProfile(iommu: HostIommu, info: IommuInfo | null): IommuReport['simProfile'] {
  const family = SIM_IOMMU_NAMES.filter((n) => SIM_IOMMU_PROFILES[n].driver === iommu.driver);
  const geometry = (pageSizes: bigint, ranges: readonly IovaRange[], basis: 'GET_INFO' | 'registers') => {
    const matches = profilesMatching(pageSizes, ranges);
    // The closest of the driver's profiles: the one differing in fewer respects.
    const ranked = family.map((n) => ({ n, d: differences(n, pageSizes, ranges) })).sort((a, b) => a.d.length - b.d.length);
    const closest = matches[0] ?? ranked[0]?.n ?? null;
    return { matches, closest, basis, differs: matches.length || !ranked[0] ? [] : ranked[0].d };
  };
  if (info) return geometry(info.pageSizes, info.ranges, 'GET_INFO');
  const unit = iommu.units.find((u) => u.name === iommu.group?.unit) ?? iommu.units.find((u) => u.predicted !== null);
  if (unit?.predicted) {
    const top = (1n << BigInt(unit.predicted.addressWidth)) - 1n;
    return geometry(unit.predicted.pageSizes, [{ start: 0n, last: MSI_WINDOW.start - 1n }, { start: MSI_WINDOW.last + 1n, last: top }], 'registers');
  }
  if (family.length) return { matches: [], closest: family[0]!, basis: 'driver', differs: [] };
  return { matches: [], closest: null, basis: 'none', differs: [] };
}

function iommuReport(iommu: HostIommu, info: IommuInfo | null): IommuReport {
  return {
    name: iommu.name,
    description: iommu.description,
    driver: iommu.driver,
    units: iommu.units.map((u) => ({
      name: u.name, driver: u.driver,
      predicted: u.predicted && { addressWidth: u.predicted.addressWidth, pageSizes: bitmapSizes(u.predicted.pageSizes), snoopControl: u.predicted.snoopControl },
    })),
    group: iommu.group
      ? { ...iommu.group, reserved: iommu.group.reserved.map((r) => ({ start: hex(r.start), last: hex(r.last), type: r.type })) }
      : null,
    simProfile: matchProfile(iommu, info),
  };
}

export function collectProbe(args: ProbeArgs, root: string, open: BackendOpener | null): ProbeReport {
  const host = machineHostView(root);
  const facts = host.facts();
  const ml = facts.memlock;
  // The group asked for, else one a container can be opened on.
  const groupId = args.group ?? host.defaultGroup();
  const hostIommu = host.iommu(groupId ?? undefined);
  const report: ProbeReport = {
    schema: PROBE_SCHEMA,
    iommu: iommuReport(hostIommu, null),
    vfio: facts.vfio,
    native: { available: false, reason: 'not tried' },
    apiVersion: null,
    extensions: null,
    groups: facts.groups.map((g) => ({ ...g, devices: g.devices.map((d) => ({ ...d })) })),
    container: null,
    memlock: ml && { soft: ml.soft === null ? null : Number(ml.soft), hard: ml.hard === null ? null : Number(ml.hard) },
    dmaEntryLimit: facts.dmaEntryLimit,
    hugepages: facts.hugepages.map((p) => ({ pageSize: Number(p.pageSize), total: p.total, free: p.free })),
    thp: facts.thp,
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
  if (groupId === null) return report;
  try {
    const a = attachGroup(backend, groupId);
    try {
      const info = a.container.info();
      report.container = containerReport(groupId, a.iommuType, info, a.container.memlock());
      report.iommu.simProfile = matchProfile(hostIommu, info);
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

/** Page sizes, with runs of three or more consecutive powers of two as "4 KiB to 256 GiB" (AMD-Vi has 39 of them). */
function pageSizeText(sizes: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < sizes.length;) {
    let j = i;
    while (j + 1 < sizes.length && sizes[j + 1] === sizes[j]! * 2) j++;
    if (j - i >= 2) parts.push(`${size(sizes[i]!)} to ${size(sizes[j]!)}`);
    else for (let k = i; k <= j; k++) parts.push(size(sizes[k]!));
    i = j + 1;
  }
  return parts.join(', ') + (parts.some((x) => x.includes(' to ')) ? ' (every power of two in a range)' : '');
}
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

function formatIommu(m: IommuReport): string[] {
  const out = [`IOMMU: ${m.description}`];
  for (const u of m.units) {
    if (!u.predicted) continue;
    out.push(`  ${u.name} registers: ${u.predicted.addressWidth}-bit, page sizes ${u.predicted.pageSizes.map(size).join(', ')}, `
      + `snoop control ${u.predicted.snoopControl === null ? 'unknown' : u.predicted.snoopControl ? 'yes' : 'no'}`);
  }
  if (m.group) {
    const reserved = m.group.reserved.map((x) => `${x.start}-${x.last} ${x.type}`).join(', ');
    out.push(`  group ${m.group.id}: unit ${m.group.unit ?? 'unknown'}, domain type ${m.group.type ?? 'unknown'}, `
      + `reserved ${reserved || 'none listed'}`);
  }
  const p = m.simProfile;
  const from = { GET_INFO: 'GET_INFO', registers: 'the unit\'s registers (open a container with --group N for GET_INFO)', driver: 'the driver alone (no geometry read: open a container with --group N)', none: '' }[p.basis];
  if (p.matches.length) out.push(`  sim profile: ${p.matches.join(' or ')} (matches ${from} exactly; vfio bench --sim-iommu ${p.matches[0]})`);
  else if (p.closest) {
    out.push(`  sim profile: closest ${p.closest}, from ${from}${p.differs.length ? `; this host differs: ${p.differs.join('; ')}` : ''}`);
  } else out.push('  sim profile: none imitates this IOMMU');
  return out;
}

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
  out.push(...formatIommu(r.iommu));
  out.push('');
  if (r.container) {
    const c = r.container;
    if (c.error) out.push(`Container on group ${c.group}: ${c.error}`);
    else {
      out.push(`Container on group ${c.group} (${c.iommuType}), VFIO_IOMMU_GET_INFO:`);
      out.push(`  page sizes: ${pageSizeText(c.pageSizes!)}`);
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
