// Child of iommufd-memlock.test.ts: iommufd's locked-memory accounting, in
// one IOMMU_OPTION_RLIMIT_MODE (MODE=user|mm), without CAP_IPC_LOCK (the
// parent drops it) and with a small RLIMIT_MEMLOCK. Reports, as one JSON
// line, what VmLck + VmPin did and which maps the kernel refused; then, on a
// fresh iommufd in the same mode, what the planner's pre-check judged
// (iommufd-memlock-precheck.ts).
import { readFileSync } from 'node:fs';
import { SZ_4K, type RlimitMode } from '../../../lib/backend.js';
import { VfioError } from '../../../lib/errors.js';
import { nativeBackend } from '../native-backend.js';
import { precheck } from './iommufd-memlock-precheck.js';

/** [VmLck, VmPin] in KiB: mm->locked_vm and mm->pinned_vm. */
function vm(): [number, number] {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return [kib('VmLck'), kib('VmPin')];
}

function errnoOf(fn: () => unknown): number | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (!(err instanceof VfioError)) throw err;
    return err.errno;
  }
}

const mode = (process.env.MODE ?? 'user') as RlimitMode;
const cdev = process.env.CDEV ?? 'vfio0';
const smallSize = BigInt(process.env.MEMLOCK_SMALL ?? 4n * SZ_4K);
const bigSize = BigInt(process.env.MEMLOCK_BIG ?? 256n * SZ_4K);

const backend = await nativeBackend();
const fd = backend.openIommufd!();
if (mode === 'mm') fd.setRlimitMode('mm');
const ioas = fd.allocIoas();
const small = backend.allocBuffer({ size: smallSize, backing: '4k', prefault: true });
const big = backend.allocBuffer({ size: bigSize, backing: '4k', prefault: true });
const base = vm();
const delta = (): [number, number] => {
  const [l, p] = vm();
  return [l - base[0], p - base[1]];
};

// No device attached: nothing is pinned, so nothing is charged or refused.
const lazyBigErrno = errnoOf(() => ioas.map({ vaddr: big.vaddr, iova: 0x100_0000n, size: big.size }));
const lockedLazy = delta();
if (lazyBigErrno === null) ioas.unmap(0x100_0000n, big.size);

const dev = fd.bindDevice(cdev);
dev.attach(ioas);
ioas.map({ vaddr: small.vaddr, iova: 0x10_0000n, size: small.size });
const lockedSmall = delta();
const attachedBigErrno = errnoOf(() => ioas.map({ vaddr: big.vaddr, iova: 0x100_0000n, size: big.size }));
const lockedAfterBig = delta();
// The last domain leaving unpins (and uncharges) what stays mapped.
dev.detach();
const lockedDetached = delta();
// Attaching again pins the small mapping again.
dev.attach(ioas);
const lockedReattached = delta();
fd.close();
const lockedClosed = delta();
small.close();
big.close();
// A failure there is reported, not thrown: the accounting figures above stand on their own.
let pre: ReturnType<typeof precheck> | { error: string };
try {
  pre = precheck(backend, mode, cdev);
} catch (err) {
  pre = { error: err instanceof Error ? err.message : String(err) };
}

process.stdout.write(`${JSON.stringify({
  mode: fd.closed ? mode : 'unknown',
  lazyBigErrno, lockedLazy, lockedSmall, attachedBigErrno, lockedAfterBig, lockedDetached, lockedReattached, lockedClosed,
  precheck: pre,
})}\n`);
