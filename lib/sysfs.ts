// What the host says about VFIO, read from sysfs and procfs, plus the one write
// people need: binding a PCI device to vfio-pci. Every path hangs off `root`
// (default '/') so tests run against a fake tree in a temp directory.
//
// Reads never throw for a missing file: a laptop without an IOMMU is a normal
// answer (empty lists, nulls). Writes are confined to <root>/sys/bus/pci and
// only ever take a PCI address that matched PCI_ADDRESS, so no argument can
// steer them anywhere else.
import {
  accessSync, constants as fsConstants, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync,
  rmSync, writeFileSync,
} from 'node:fs';
import { constants } from 'node:os';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { Errno, VfioError } from './errors.js';

/** Domain 0000-ffff, bus 00-ff, device 00-1f, function 0-7; lower case only. */
export const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/;

export function isPciAddress(value: unknown): value is string {
  return typeof value === 'string' && PCI_ADDRESS.test(value);
}

export function assertPciAddress(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`PCI address must be a string, got ${typeof value}`);
  if (!PCI_ADDRESS.test(value)) {
    throw new RangeError(`not a PCI address: ${JSON.stringify(value)} (expected dddd:bb:dd.f, lower-case hex, e.g. 0000:00:03.0)`);
  }
  return value;
}

export interface PciDevice {
  address: string;
  vendor: number | null;
  device: number | null;
  /** 24-bit class code (base class, subclass, programming interface). */
  classCode: number | null;
  /** Bound driver, null when none. */
  driver: string | null;
  driverOverride: string | null;
  iommuGroup: number | null;
}

export interface IommuGroupInfo {
  id: number;
  devices: PciDevice[];
  /**
   * What VFIO_GROUP_GET_STATUS would say, guessed from the drivers: every
   * device bound to a vfio driver, to pci-stub, to pcieport, or to none.
   */
  viable: boolean;
  /** Devices that keep the group from being viable. */
  blockers: string[];
}

const p = (root: string, ...parts: string[]) => join(resolve(root), ...parts);

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function readHex(path: string): number | null {
  const text = readText(path);
  if (text === null || !/^0x[0-9a-fA-F]+$/.test(text)) return null;
  return Number.parseInt(text.slice(2), 16);
}

function readInt(path: string): number | null {
  const text = readText(path);
  return text !== null && /^\d+$/.test(text) ? Number(text) : null;
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function linkTarget(path: string): string | null {
  try {
    return basename(readlinkSync(path));
  } catch {
    return null;
  }
}

function pciDir(root: string, address: string): string {
  return p(root, 'sys/bus/pci/devices', address);
}

/** Vendor, device, class, driver and group of one PCI device; null if absent. */
export function pciDevice(address: string, root = '/'): PciDevice | null {
  assertPciAddress(address);
  const dir = pciDir(root, address);
  if (!existsSync(dir)) return null;
  const group = linkTarget(join(dir, 'iommu_group'));
  const override = readText(join(dir, 'driver_override'));
  return {
    address,
    vendor: readHex(join(dir, 'vendor')),
    device: readHex(join(dir, 'device')),
    classCode: readHex(join(dir, 'class')),
    driver: linkTarget(join(dir, 'driver')),
    driverOverride: override === null || override === '(null)' || override === '' ? null : override,
    iommuGroup: group !== null && /^\d+$/.test(group) ? Number(group) : null,
  };
}

const HARMLESS_DRIVERS = new Set(['pci-stub', 'pcieport']);

function blocksViability(dev: PciDevice): boolean {
  return dev.driver !== null && !dev.driver.startsWith('vfio') && !HARMLESS_DRIVERS.has(dev.driver);
}

/** Every IOMMU group, sorted by id, with its PCI devices. */
export function listIommuGroups(root = '/'): IommuGroupInfo[] {
  const base = p(root, 'sys/kernel/iommu_groups');
  const ids = listDir(base).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  return ids.map((id) => iommuGroup(id, root)!);
}

export function iommuGroup(id: number, root = '/'): IommuGroupInfo | null {
  if (!Number.isInteger(id) || id < 0) throw new RangeError(`IOMMU group must be a non-negative integer, got ${id}`);
  const dir = p(root, 'sys/kernel/iommu_groups', String(id), 'devices');
  if (!existsSync(dir)) return null;
  const devices = listDir(dir).filter(isPciAddress).sort()
    .map((addr) => pciDevice(addr, root) ?? {
      address: addr, vendor: null, device: null, classCode: null, driver: null, driverOverride: null, iommuGroup: id,
    });
  const blockers = devices.filter(blocksViability).map((d) => `${d.address} (${d.driver})`);
  return { id, devices, viable: blockers.length === 0, blockers };
}

/**
 * The first group a container can be opened on: viable, at least one device
 * bound to vfio-pci, and its /dev/vfio/<id> node present. null if none.
 */
export function usableVfioGroup(root = '/'): number | null {
  const g = listIommuGroups(root).find((x) => x.viable && x.devices.some((d) => d.driver === 'vfio-pci')
    && existsSync(p(root, 'dev/vfio', String(x.id))));
  return g?.id ?? null;
}

export interface VfioPresence {
  present: boolean;
  /** Why not, or what was found. */
  reason: string;
  containerNode: boolean;
  modules: { vfio: boolean; vfioPci: boolean; type1: boolean };
  iommuGroups: number;
}

/** Whether /dev/vfio/vfio and the modules are there, with the first thing missing. */
export function vfioPresence(root = '/'): VfioPresence {
  const containerNode = existsSync(p(root, 'dev/vfio/vfio'));
  const modules = {
    vfio: existsSync(p(root, 'sys/module/vfio')),
    vfioPci: existsSync(p(root, 'sys/module/vfio_pci')),
    type1: existsSync(p(root, 'sys/module/vfio_iommu_type1')),
  };
  const iommuGroups = listDir(p(root, 'sys/kernel/iommu_groups')).filter((n) => /^\d+$/.test(n)).length;
  let reason: string;
  if (!containerNode && !modules.vfio) reason = 'vfio not loaded: no /dev/vfio/vfio (modprobe vfio-pci)';
  else if (!containerNode) reason = 'vfio module loaded but /dev/vfio/vfio is missing';
  else if (iommuGroups === 0) reason = 'no IOMMU groups: the IOMMU is off or absent (intel_iommu=on / amd_iommu=on)';
  else if (!modules.type1) reason = 'vfio_iommu_type1 not loaded: containers cannot choose an IOMMU type';
  else reason = `/dev/vfio/vfio present, ${iommuGroups} IOMMU group(s)`;
  return { present: containerNode, reason, containerNode, modules, iommuGroups };
}

export interface MemlockLimit {
  /** Soft limit in bytes, null for unlimited. */
  soft: bigint | null;
  hard: bigint | null;
}

/** RLIMIT_MEMLOCK, from "Max locked memory" in /proc/self/limits; null if unreadable. */
export function memlockLimit(root = '/'): MemlockLimit | null {
  const text = readText(p(root, 'proc/self/limits'));
  const line = text?.split('\n').find((l) => l.startsWith('Max locked memory'));
  if (!line) return null;
  const [soft, hard] = line.slice('Max locked memory'.length).trim().split(/\s+/);
  const parse = (v: string | undefined) => (v === 'unlimited' ? null : v && /^\d+$/.test(v) ? BigInt(v) : undefined);
  const s = parse(soft);
  const h = parse(hard);
  if (s === undefined || h === undefined) return null;
  return { soft: s, hard: h };
}

export interface HugepagePool {
  pageSize: bigint;
  total: number;
  free: number;
}

/** One entry per hugetlb page size the kernel offers, smallest first. */
export function hugepagePools(root = '/'): HugepagePool[] {
  const base = p(root, 'sys/kernel/mm/hugepages');
  const pools: HugepagePool[] = [];
  for (const name of listDir(base)) {
    const m = /^hugepages-(\d+)kB$/.exec(name);
    if (!m) continue;
    pools.push({
      pageSize: BigInt(m[1]!) * 1024n,
      total: readInt(join(base, name, 'nr_hugepages')) ?? 0,
      free: readInt(join(base, name, 'free_hugepages')) ?? 0,
    });
  }
  return pools.sort((a, b) => (a.pageSize < b.pageSize ? -1 : a.pageSize > b.pageSize ? 1 : 0));
}

export type ThpMode = 'always' | 'madvise' | 'never';

/** The bracketed choice in transparent_hugepage/enabled; null if THP is not built in. */
export function thpMode(root = '/'): ThpMode | null {
  const text = readText(p(root, 'sys/kernel/mm/transparent_hugepage/enabled'));
  const m = text ? /\[(always|madvise|never)\]/.exec(text) : null;
  return m ? (m[1] as ThpMode) : null;
}

/** vfio_iommu_type1's dma_entry_limit (mappings per container); null if not loaded. */
export function dmaEntryLimit(root = '/'): number | null {
  return readInt(p(root, 'sys/module/vfio_iommu_type1/parameters/dma_entry_limit'));
}

// ---- the only writer -------------------------------------------------------

function realOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

function errnoOf(err: unknown): number {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const n = code ? (constants.errno as Record<string, number>)[code] : undefined;
  return n ?? Errno.EIO;
}

/**
 * Writes `value` to a sysfs attribute, refusing anything that does not resolve
 * (lexically: sysfs itself is full of symlinks) inside <root>/sys/bus/pci.
 */
export function writePciAttribute(root: string, relative: string, value: string): void {
  const allowed = p(root, 'sys/bus/pci');
  const target = resolve(allowed, relative);
  if (!target.startsWith(allowed + sep)) {
    throw new RangeError(`refusing to write outside ${allowed}: ${target}`);
  }
  // sysfs links lead from bus/pci into /sys/devices, never out of /sys: a
  // link in the path that leaves <root>/sys is not sysfs, so do not follow it.
  const sysReal = realOrNull(p(root, 'sys'));
  const dirReal = realOrNull(dirname(target));
  if (sysReal !== null && dirReal !== null && dirReal !== sysReal && !dirReal.startsWith(sysReal + sep)) {
    throw new RangeError(`refusing to write through a link that leaves ${p(root, 'sys')}: ${target} -> ${dirReal}`);
  }
  try {
    writeFileSync(target, value);
  } catch (err) {
    throw new VfioError(errnoOf(err), 'sysfs write', { path: target, value },
      errnoOf(err) === Errno.EACCES || errnoOf(err) === Errno.EPERM ? 'sysfs writes need root' : undefined);
  }
}

export interface BindResult {
  address: string;
  previousDriver: string | null;
  driver: string | null;
  /** What was written, in order, as "path <- value"; empty when nothing changed. */
  changes: string[];
  /** The record of the driver it was taken from (bindRecordPath), or null when nothing was taken. */
  record: string | null;
}

// ---- where a bound device came from ------------------------------------------
//
// `vfio bind` records the driver it takes a device from in a small file under
// /run/node-vfio (one per device, JSON), and `vfio unbind` gives the device
// back to that driver. Not in driver_override: that attribute is what makes
// vfio-pci (and only vfio-pci) claim the device while it is bound, so it holds
// "vfio-pci" exactly when the old name would be needed; and sysfs keeps no
// other per-device note. /run is a tmpfs: the record goes with a reboot, as
// the binding itself does, and it is root's (mode 0700 directory, 0600 file),
// as the sysfs writes are.

export const BIND_RECORD_SCHEMA = 'node-vfio/bind@1';

export interface BindRecord {
  schema: typeof BIND_RECORD_SCHEMA;
  address: string;
  /** Vendor and device IDs when recorded: a record for another device at the same address is refused. */
  vendor: number | null;
  device: number | null;
  /** The driver the device was bound to before vfio-pci took it; null when it had none. */
  previousDriver: string | null;
  /** driver_override before the bind (null when unset), put back on restore. */
  previousOverride: string | null;
  /** ISO time of the bind. */
  boundAt: string;
}

/** Driver names as sysfs spells them (they become a path component: nothing else is accepted). */
const DRIVER_NAME = /^[A-Za-z0-9_.+-]+$/;

export function bindRecordPath(address: string, root = '/'): string {
  assertPciAddress(address);
  return p(root, 'run/node-vfio', `bind-${address}.json`);
}

/** The record `vfio bind` left for this device, or null (none, or unreadable / not ours). */
export function bindRecord(address: string, root = '/'): BindRecord | null {
  const text = readText(bindRecordPath(address, root));
  if (text === null) return null;
  try {
    const r = JSON.parse(text) as Partial<BindRecord>;
    if (r.schema !== BIND_RECORD_SCHEMA || r.address !== address) return null;
    if (r.previousDriver !== null && (typeof r.previousDriver !== 'string' || !DRIVER_NAME.test(r.previousDriver))) return null;
    if (r.previousOverride !== null && typeof r.previousOverride !== 'string') return null;
    return {
      schema: BIND_RECORD_SCHEMA, address, vendor: typeof r.vendor === 'number' ? r.vendor : null,
      device: typeof r.device === 'number' ? r.device : null, previousDriver: r.previousDriver ?? null,
      previousOverride: r.previousOverride ?? null, boundAt: typeof r.boundAt === 'string' ? r.boundAt : '',
    };
  } catch {
    return null;
  }
}

function writeBindRecord(rec: BindRecord, root: string): string {
  const path = bindRecordPath(rec.address, root);
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Whole or not at all: a half-written record would lose the driver.
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  } catch (err) {
    throw new VfioError(errnoOf(err), 'bind', { path }, `cannot record the device's driver in ${path}; nothing was changed in sysfs`);
  }
  return path;
}

/**
 * Hands a device to vfio-pci: driver_override, unbind from the current driver,
 * drivers_probe. Refuses bad addresses, absent devices, and a missing vfio-pci.
 */
export function bindToVfioPci(address: string, root = '/'): BindResult {
  assertPciAddress(address);
  const before = pciDevice(address, root);
  if (!before) throw new VfioError(Errno.ENODEV, 'bind', { address }, `no PCI device ${address} in sysfs`);
  if (before.driver === 'vfio-pci') {
    const kept = bindRecord(address, root) ? bindRecordPath(address, root) : null;
    return { address, previousDriver: before.driver, driver: before.driver, changes: [], record: kept };
  }
  if (!existsSync(p(root, 'sys/bus/pci/drivers/vfio-pci'))) {
    throw new VfioError(Errno.ENODEV, 'bind', { address }, 'vfio-pci driver not loaded: modprobe vfio-pci');
  }
  if (before.driver !== null && !DRIVER_NAME.test(before.driver)) {
    throw new VfioError(Errno.EINVAL, 'bind', { address }, `unexpected driver name ${JSON.stringify(before.driver)}`);
  }
  // Recorded first: a bind that fails half way (unbound, not yet probed) can still be given back.
  const record = writeBindRecord({
    schema: BIND_RECORD_SCHEMA, address, vendor: before.vendor, device: before.device, previousDriver: before.driver,
    previousOverride: before.driverOverride, boundAt: new Date().toISOString(),
  }, root);
  const changes: string[] = [`${record} <- ${before.driver ?? '(no driver)'}`];
  const write = pciWriter(root, changes);
  write(`devices/${address}/driver_override`, 'vfio-pci');
  if (before.driver !== null) write(`drivers/${before.driver}/unbind`, address);
  write('drivers_probe', address);
  const after = pciDevice(address, root);
  return { address, previousDriver: before.driver, driver: after?.driver ?? null, changes, record };
}

function pciWriter(root: string, changes: string[]): (relative: string, value: string) => void {
  return (relative, value) => {
    writePciAttribute(root, relative, value);
    changes.push(`${join(p(root, 'sys/bus/pci'), relative)} <- ${JSON.stringify(value).slice(1, -1)}`);
  };
}

export interface RestoreResult {
  address: string;
  /** The driver it had when asked (vfio-pci, or none). */
  previousDriver: string | null;
  /** The driver it has now. */
  driver: string | null;
  /** Where it was meant to go: the recorded driver, null for "no driver", or 'drivers_probe' without a record. */
  target: string | null;
  /** The record that was used (now removed), or null. */
  record: string | null;
  changes: string[];
}

/** What restoreDriver would do, without doing it (for `vfio unbind` without --yes). */
export function describeRestorePlan(address: string, root = '/'): string {
  const dev = pciDevice(address, root);
  if (!dev) return `${address} is not present`;
  const rec = bindRecord(address, root);
  const now = dev.driver ?? 'no driver';
  if (!rec) return `${address} (now: ${now}) has no record from vfio bind: it would be unbound from vfio-pci and left to drivers_probe`;
  return `${address} (now: ${now}) would go back to ${rec.previousDriver ?? '(no driver)'}, recorded by vfio bind at ${rec.boundAt}`;
}

/**
 * Gives a device that `bindToVfioPci` took back to the driver it took it from
 * (as dpdk-devbind does): unbind from vfio-pci, put driver_override back, and
 * bind it explicitly to the recorded driver (drivers/<name>/bind), then drop
 * the record. Without a record: unbind, clear driver_override, drivers_probe.
 * Refuses a device some other driver has taken meanwhile, and a record made
 * for another device at the same address.
 */
export function restoreDriver(address: string, root = '/'): RestoreResult {
  assertPciAddress(address);
  const before = pciDevice(address, root);
  if (!before) throw new VfioError(Errno.ENODEV, 'unbind', { address }, `no PCI device ${address} in sysfs`);
  const rec = bindRecord(address, root);
  const recPath = bindRecordPath(address, root);
  const base = { address, previousDriver: before.driver, record: rec ? recPath : null };
  if (rec && ((rec.vendor !== null && rec.vendor !== before.vendor) || (rec.device !== null && rec.device !== before.device))) {
    throw new VfioError(Errno.ENODEV, 'unbind', { address }, `the record in ${recPath} is for another device `
      + `(${hex4(rec.vendor)}:${hex4(rec.device)}, now ${hex4(before.vendor)}:${hex4(before.device)}); remove it by hand`);
  }
  const target = rec ? rec.previousDriver : 'drivers_probe';
  const changes: string[] = [];
  if (before.driver !== 'vfio-pci') {
    if (rec && before.driver === rec.previousDriver) {
      rmSync(recPath, { force: true });
      changes.push(`${recPath} removed (the device is already with ${before.driver ?? '(no driver)'})`);
      return { ...base, driver: before.driver, target, changes };
    }
    if (before.driver !== null) {
      throw new VfioError(Errno.EBUSY, 'unbind', { address }, `${address} is bound to ${before.driver}, not vfio-pci: not touching it`);
    }
  }
  if (rec?.previousDriver && !existsSync(p(root, 'sys/bus/pci/drivers', rec.previousDriver))) {
    throw new VfioError(Errno.ENODEV, 'unbind', { address }, `driver ${rec.previousDriver} is not loaded (modprobe it first); `
      + 'nothing was changed');
  }
  const write = pciWriter(root, changes);
  if (before.driver === 'vfio-pci') write('drivers/vfio-pci/unbind', address);
  // Writing a newline clears driver_override (the kernel's driver_set_override).
  write(`devices/${address}/driver_override`, rec?.previousOverride ?? '\n');
  if (!rec) write('drivers_probe', address);
  else if (rec.previousDriver !== null) write(`drivers/${rec.previousDriver}/bind`, address);
  rmSync(recPath, { force: true });
  if (rec) changes.push(`${recPath} removed`);
  const after = pciDevice(address, root);
  return { ...base, driver: after?.driver ?? null, target, changes };
}

const hex4 = (v: number | null) => (v === null ? '?' : v.toString(16).padStart(4, '0'));

/** Whether this process may open /dev/vfio/<group>: 'rw', 'denied' (the node is there, its permissions say no), or 'absent'. */
export type VfioNodeAccess = 'rw' | 'denied' | 'absent';

export function vfioNodeAccess(group: number, root = '/'): VfioNodeAccess {
  const node = join(root, 'dev/vfio', String(group));
  if (!existsSync(node)) return 'absent';
  try {
    accessSync(node, fsConstants.R_OK | fsConstants.W_OK);
    return 'rw';
  } catch {
    return 'denied';
  }
}
