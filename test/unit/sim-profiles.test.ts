// The sim's IOMMU profiles: each answers GET_INFO and DMA_CC with the figures
// its source gives (the kernel driver, or what the lane's kernel answered),
// options still win over a profile, and names are checked.
import { describe, expect, it } from 'vitest';
import { SZ_1G, SZ_2M, SZ_4K, type IommuInfo } from '../../lib/backend.js';
import {
  AMD_IOMMU_PGSIZES, DEFAULT_SIM_IOMMU, SIM_DEFAULT_GROUP, SIM_IOMMU_NAMES, SimBackend, profilesMatching, simIommuProfile,
  type SimOptions,
} from '../../lib/sim/index.js';

const U64_MAX = (1n << 64n) - 1n;

function getInfo(opts: SimOptions): { info: IommuInfo; dmaCc: boolean } {
  const b = new SimBackend(opts);
  const c = b.openContainer();
  const g = b.openGroup(SIM_DEFAULT_GROUP);
  try {
    g.setContainer(c);
    c.setIommu('type1v2');
    return { info: c.info(), dmaCc: c.checkExtension('DMA_CC') };
  } finally {
    g.close();
    c.close();
  }
}

describe('sim IOMMU profiles', () => {
  it('amd-vi-qemu answers what the lane\'s 6.12.107 kernel answered under QEMU\'s amd-iommu (issue 17)', () => {
    const { info, dmaCc } = getInfo({ iommu: 'amd-vi-qemu' });
    expect(info.pageSizes).toBe(0xfff7ffffff000n);
    expect(info.ranges).toEqual([
      { start: 0n, last: 0xfedfffffn },
      { start: 0xfef00000n, last: 0xfcffffffffn },
      { start: 0x10000000000n, last: U64_MAX },
    ]);
    // amd_iommu_enforce_cache_coherency(): always true.
    expect(dmaCc).toBe(true);
  });

  it('AMD_IOMMU_PGSIZES is GENMASK_ULL(51, 12) ^ SZ_512G: every power of two from 4 KiB to 2^51 but 2^39', () => {
    expect(AMD_IOMMU_PGSIZES).toBe(0xfff7ffffff000n);
    for (let bit = 0n; bit < 64n; bit++) {
      const has = ((AMD_IOMMU_PGSIZES >> bit) & 1n) === 1n;
      expect(has, `bit ${bit}`).toBe(bit >= 12n && bit <= 51n && bit !== 39n);
    }
  });

  it('vtd-qemu: 4 KiB | 2 MiB | 1 GiB (0x40201000), a 39-bit aperture less the MSI window, no DMA_CC', () => {
    const { info, dmaCc } = getInfo({ iommu: 'vtd-qemu' });
    expect(info.pageSizes).toBe(0x40201000n);
    expect(info.ranges).toEqual([{ start: 0n, last: 0xfedfffffn }, { start: 0xfef00000n, last: (1n << 39n) - 1n }]);
    expect(dmaCc).toBe(false);
  });

  it('the default is vtd, exactly what the sim answered before profiles: 48-bit, 4 KiB | 2 MiB | 1 GiB, DMA_CC', () => {
    expect(DEFAULT_SIM_IOMMU).toBe('vtd');
    const dflt = getInfo({});
    expect(dflt).toEqual(getInfo({ iommu: 'vtd' }));
    expect(dflt.info.pageSizes).toBe(SZ_4K | SZ_2M | SZ_1G);
    expect(dflt.info.ranges).toEqual([{ start: 0n, last: 0xfedfffffn }, { start: 0xfef00000n, last: (1n << 48n) - 1n }]);
    expect(dflt.dmaCc).toBe(true);
    expect(new SimBackend().options.iommu).toEqual({ profile: 'vtd', driver: 'intel-iommu', custom: false });
  });

  it('amd-vi (a host) has the same geometry as amd-vi-qemu: the driver\'s figures are constants', () => {
    expect(getInfo({ iommu: 'amd-vi' })).toEqual(getInfo({ iommu: 'amd-vi-qemu' }));
  });

  it('options win over the profile, and the host then says its geometry is custom', () => {
    const b = new SimBackend({ iommu: 'amd-vi-qemu', pageSizes: SZ_4K | SZ_2M });
    expect(b.options.pageSizes).toBe(SZ_4K | SZ_2M);
    expect(b.options.iovaRanges).toEqual(simIommuProfile('amd-vi-qemu').iovaRanges);
    expect(b.options.iommu).toEqual({ profile: 'amd-vi-qemu', driver: 'amd-iommu', custom: true });
    expect(b.host().iommu().name).toBe('sim amd-vi-qemu (custom geometry)');
    expect(new SimBackend({ iommu: 'vtd', addressWidth: 39, cacheCoherent: false }).options.iommu.custom).toBe(true);
    // The same figures given explicitly are not a change.
    expect(new SimBackend({ iommu: 'vtd-qemu', cacheCoherent: false }).options.iommu.custom).toBe(false);
  });

  it('refuses an unknown name, listing the known ones', () => {
    expect(() => new SimBackend({ iommu: 'amd' as never })).toThrow(/unknown IOMMU profile "amd"; choose from vtd, vtd-qemu, amd-vi, amd-vi-qemu/);
  });

  it('names itself through the HostView, and every profile says where its figures come from', () => {
    for (const name of SIM_IOMMU_NAMES) {
      const view = new SimBackend({ iommu: name }).host().iommu(SIM_DEFAULT_GROUP);
      const p = simIommuProfile(name);
      expect(view).toMatchObject({ name: `sim ${name}`, driver: p.driver, simProfile: name, group: { id: SIM_DEFAULT_GROUP } });
      expect(view.description).toContain(p.description);
      for (const src of Object.values(p.sources)) expect(src.length).toBeGreaterThan(20);
    }
  });

  it('profilesMatching finds a geometry\'s profiles, told apart by DMA_CC where it is known', () => {
    const vtdq = simIommuProfile('vtd-qemu');
    expect(profilesMatching(vtdq.pageSizes, vtdq.iovaRanges)).toEqual(['vtd-qemu']);
    expect(profilesMatching(vtdq.pageSizes, vtdq.iovaRanges, true)).toEqual([]);
    const amd = simIommuProfile('amd-vi');
    expect(profilesMatching(amd.pageSizes, amd.iovaRanges, true)).toEqual(['amd-vi', 'amd-vi-qemu']);
    expect(profilesMatching(amd.pageSizes, amd.iovaRanges.slice(1))).toEqual([]);
  });
});
