// A fake /sys + /proc + /dev tree laid out the way the kernel lays it out
// (device directories under /sys/devices, symlinks from bus/pci and from the
// IOMMU groups), for the sysfs helpers and the CLI's probe/bind commands.
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

export interface FakeDevice {
  address: string;
  vendor: string;
  device: string;
  classCode: string;
  driver?: string;
  group: number;
}

export interface FakeHostOptions {
  devices?: FakeDevice[];
  vfio?: boolean;
  memlock?: string;
  hugepages?: Record<string, { nr: number; free: number }>;
  thp?: string;
  dmaEntryLimit?: number;
  /** One IOMMU unit every device hangs off (/sys/class/iommu/<unit>, each device's iommu link), and each group's type and reserved regions. */
  iommu?: FakeIommu;
}

export interface FakeIommu {
  unit: string;
  /** The attribute group each driver adds: intel-iommu/ (with cap and ecap) or amd-iommu/. */
  driver: 'intel-iommu' | 'amd-iommu';
  cap?: bigint;
  ecap?: bigint;
  /** /sys/kernel/iommu_groups/N/type. Default DMA. */
  groupType?: string;
  /** /sys/kernel/iommu_groups/N/reserved_regions. Default the MSI window. */
  reserved?: string;
}

/** A VT-d capability register: MGAW (bits 21:16, width - 1) and SLLPS (bits 37:34). */
export function vtdCap(width: number, sllps: bigint): bigint {
  return (BigInt(width - 1) << 16n) | (sllps << 34n);
}

export interface FakeHost {
  root: string;
  write(path: string, text: string): void;
  link(path: string, target: string): void;
  cleanup(): void;
}

export function fakeHost(opts: FakeHostOptions = {}): FakeHost {
  const root = mkdtempSync(join(tmpdir(), 'vfio-sysfs-'));
  const write = (path: string, text: string) => {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  };
  // Relative links, like sysfs's, so the tree stays valid wherever it lives.
  const link = (path: string, target: string) => {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    symlinkSync(relative(dirname(full), join(root, target)), full);
  };
  const drivers = new Set<string>();
  for (const d of opts.devices ?? []) {
    const real = `sys/devices/pci0000:00/${d.address}`;
    write(`${real}/vendor`, `${d.vendor}\n`);
    write(`${real}/device`, `${d.device}\n`);
    write(`${real}/class`, `${d.classCode}\n`);
    write(`${real}/driver_override`, '(null)\n');
    link(`sys/bus/pci/devices/${d.address}`, real);
    mkdirSync(join(root, `sys/kernel/iommu_groups/${d.group}/devices`), { recursive: true });
    link(`sys/kernel/iommu_groups/${d.group}/devices/${d.address}`, real);
    link(`${real}/iommu_group`, `sys/kernel/iommu_groups/${d.group}`);
    if (d.driver) {
      drivers.add(d.driver);
      mkdirSync(join(root, `sys/bus/pci/drivers/${d.driver}`), { recursive: true });
      link(`${real}/driver`, `sys/bus/pci/drivers/${d.driver}`);
    }
  }
  for (const drv of drivers) write(`sys/bus/pci/drivers/${drv}/unbind`, '');
  if (opts.iommu) {
    const m = opts.iommu;
    const unitDir = `sys/devices/virtual/iommu/${m.unit}`;
    if (m.driver === 'intel-iommu') {
      write(`${unitDir}/intel-iommu/cap`, `${(m.cap ?? 0n).toString(16)}\n`);
      write(`${unitDir}/intel-iommu/ecap`, `${(m.ecap ?? 0n).toString(16)}\n`);
    } else {
      write(`${unitDir}/amd-iommu/cap`, '0x90000000\n');
    }
    link(`sys/class/iommu/${m.unit}`, unitDir);
    for (const d of opts.devices ?? []) {
      link(`sys/devices/pci0000:00/${d.address}/iommu`, unitDir);
      write(`sys/kernel/iommu_groups/${d.group}/type`, `${m.groupType ?? 'DMA'}\n`);
      write(`sys/kernel/iommu_groups/${d.group}/reserved_regions`, m.reserved ?? '0x00000000fee00000 0x00000000feefffff msi\n');
    }
  }
  if (opts.vfio) {
    write('dev/vfio/vfio', '');
    for (const m of ['vfio', 'vfio_pci', 'vfio_iommu_type1']) mkdirSync(join(root, 'sys/module', m), { recursive: true });
    write('sys/bus/pci/drivers/vfio-pci/unbind', '');
    write('sys/module/vfio_iommu_type1/parameters/dma_entry_limit', `${opts.dmaEntryLimit ?? 65535}\n`);
  }
  write('sys/bus/pci/drivers_probe', '');
  write('proc/self/limits', [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max cpu time              unlimited            unlimited            seconds   ',
    `Max locked memory         ${opts.memlock ?? '8388608              8388608'}              bytes     `,
    'Max address space         unlimited            unlimited            bytes     ',
    '',
  ].join('\n'));
  for (const [size, { nr, free }] of Object.entries(opts.hugepages ?? {})) {
    write(`sys/kernel/mm/hugepages/hugepages-${size}/nr_hugepages`, `${nr}\n`);
    write(`sys/kernel/mm/hugepages/hugepages-${size}/free_hugepages`, `${free}\n`);
  }
  if (opts.thp !== undefined) write('sys/kernel/mm/transparent_hugepage/enabled', `${opts.thp}\n`);
  return { root, write, link, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export const EDU: FakeDevice = { address: '0000:00:03.0', vendor: '0x1234', device: '0x11e8', classCode: '0x00ff00', group: 3 };
export const NIC: FakeDevice = {
  address: '0000:00:02.0', vendor: '0x8086', device: '0x10d3', classCode: '0x020000', driver: 'e1000e', group: 2,
};

/** Every path under root with its content (files) or target (links): what "nothing changed" is checked against. */
export function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isSymbolicLink()) out.set(path, `-> ${readlinkSync(path)}`);
      else if (st.isDirectory()) {
        out.set(path, 'dir');
        walk(path);
      } else out.set(path, readFileSync(path, 'latin1'));
    }
  };
  walk(root);
  return out;
}
