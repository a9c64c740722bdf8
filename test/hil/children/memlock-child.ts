// Child of memlock.test.ts: maps a small buffer (inside RLIMIT_MEMLOCK) and a
// big one (beyond it) and reports what the kernel did, as one JSON line.
import { readFileSync } from 'node:fs';
import { SZ_4K } from '../../../lib/backend.js';
import { VfioError } from '../../../lib/errors.js';
import { nativeBackend } from '../native-backend.js';

/** Locked and pinned memory as the kernel accounts it for this process. */
function vmLockedKiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return kib('VmLck') + kib('VmPin');
}

const group = Number(process.env.VFIO_TEST_GROUP);
const smallSize = BigInt(process.env.MEMLOCK_SMALL ?? 4n * SZ_4K);
const bigSize = BigInt(process.env.MEMLOCK_BIG ?? 256n * SZ_4K);

const backend = await nativeBackend();
const container = backend.openContainer();
const grp = backend.openGroup(group);
grp.setContainer(container);
container.setIommu('type1v2');
const status = container.memlock();

const small = backend.allocBuffer({ size: smallSize, backing: '4k', prefault: true });
const big = backend.allocBuffer({ size: bigSize, backing: '4k', prefault: true });
container.map({ vaddr: small.vaddr, iova: 0x10_0000n, size: small.size });
const lockedBeforeBig = vmLockedKiB();
let bigError: { errno: number; code: string; hint: string | null } | null = null;
try {
  container.map({ vaddr: big.vaddr, iova: 0x100_0000n, size: big.size });
} catch (err) {
  if (!(err instanceof VfioError)) throw err;
  bigError = { errno: err.errno, code: err.code, hint: err.hint ?? null };
}
const lockedAfterBig = vmLockedKiB();
const unmappedBig = bigError ? 0n : container.unmap(0x100_0000n, big.size);
const unmappedSmall = container.unmap(0x10_0000n, small.size);
const lockedAfterUnmap = vmLockedKiB();
small.close();
big.close();
grp.close();
container.close();

process.stdout.write(`${JSON.stringify({
  exempt: status.exempt,
  limit: status.limit?.toString() ?? null,
  lockedBeforeBig,
  lockedAfterBig,
  lockedAfterUnmap,
  bigError,
  unmappedBig: unmappedBig.toString(),
  unmappedSmall: unmappedSmall.toString(),
})}\n`);
