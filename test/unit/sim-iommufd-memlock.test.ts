// The sim's iommufd accounting held to what the built 6.12.117 kernel did in
// test/hil/iommufd-memlock.test.ts (root without CAP_IPC_LOCK, RLIMIT_MEMLOCK
// 64 KiB, a 16 KiB and a 1 MiB buffer): memlock().locked is VmLck + VmPin.
import { describe, expect, it } from 'vitest';
import { SZ_4K, type RlimitMode } from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { SimBackend } from '../../lib/sim/index.js';

const KIB = 1024n;

function scenario(mode: RlimitMode): Record<string, bigint | number | null> {
  const backend = new SimBackend({ memlock: { limit: 64n * KIB, exempt: false } });
  const fd = backend.openIommufd();
  if (mode === 'mm') fd.setRlimitMode('mm');
  const ioas = fd.allocIoas();
  const small = backend.allocBuffer({ size: 16n * KIB, backing: '4k' });
  const big = backend.allocBuffer({ size: 1024n * KIB, backing: '4k' });
  const base = ioas.memlock().locked;
  const delta = () => (ioas.memlock().locked - base) / KIB;
  const errnoOf = (fn: () => unknown) => {
    try {
      fn();
      return null;
    } catch (err) {
      if (!(err instanceof VfioError)) throw err;
      return err.errno;
    }
  };
  const lazyBigErrno = errnoOf(() => ioas.map({ vaddr: big.vaddr, iova: 0x100_0000n, size: big.size }));
  const lockedLazy = delta();
  if (lazyBigErrno === null) ioas.unmap(0x100_0000n, big.size);
  const dev = fd.bindDevice('vfio0');
  dev.attach(ioas);
  ioas.map({ vaddr: small.vaddr, iova: 0x10_0000n, size: small.size });
  const lockedSmall = delta();
  const attachedBigErrno = errnoOf(() => ioas.map({ vaddr: big.vaddr, iova: 0x100_0000n, size: big.size }));
  const lockedAfterBig = delta();
  dev.detach();
  const lockedDetached = delta();
  dev.attach(ioas);
  const lockedReattached = delta();
  fd.close();
  const lockedClosed = (backend.openIommufd().allocIoas().memlock().locked - base) / KIB;
  return { lazyBigErrno, lockedLazy, lockedSmall, attachedBigErrno, lockedAfterBig, lockedDetached, lockedReattached, lockedClosed };
}

describe('sim iommufd memlock accounting (the kernel\'s figures, test/hil/iommufd-memlock)', () => {
  it('user mode: limit enforced, VmPin only', () => {
    expect(scenario('user')).toEqual({
      lazyBigErrno: null, lockedLazy: 0n, lockedSmall: 16n, attachedBigErrno: Errno.ENOMEM, lockedAfterBig: 16n,
      lockedDetached: 0n, lockedReattached: 16n, lockedClosed: 0n,
    });
  });

  it('mm mode: VmLck and VmPin', () => {
    expect(scenario('mm')).toEqual({
      lazyBigErrno: null, lockedLazy: 0n, lockedSmall: 32n, attachedBigErrno: Errno.ENOMEM, lockedAfterBig: 32n,
      lockedDetached: 0n, lockedReattached: 32n, lockedClosed: 0n,
    });
  });

  it('CAP_IPC_LOCK: no charge and no refusal, but VmPin still counts', () => {
    const backend = new SimBackend({ memlock: { limit: 64n * KIB, exempt: true } });
    const fd = backend.openIommufd();
    const ioas = fd.allocIoas();
    fd.bindDevice('vfio0').attach(ioas);
    const big = backend.allocBuffer({ size: 1024n * KIB, backing: '4k' });
    const base = ioas.memlock().locked;
    ioas.map({ vaddr: big.vaddr, iova: 0x100_0000n, size: big.size });
    expect(ioas.memlock().locked - base).toBe(1024n * KIB);
    expect(ioas.unmapAll()).toBe(256n * SZ_4K);
    fd.close();
  });
});
