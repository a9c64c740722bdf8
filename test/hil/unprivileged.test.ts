// An unprivileged user, given the group's device node (as a udev rule would:
// owner of /dev/vfio/N) and a small RLIMIT_MEMLOCK, maps within the limit and
// gets ENOMEM with the memlock hint beyond it; `vfio probe` run by that user
// says what it can and cannot see, and exits 0 without a stack trace.
// In the lane the guest's root is a tmpfs overlay: the chown and the search
// permissions granted on the checkout's path stay in the guest.
import { accessSync, chmodSync, chownSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Errno } from '../../lib/errors.js';
import { inLaneVm, onVfioHost, SKIP_REASON, testDevice } from './lane.js';
import { runChild, SETPRIV, spawnChild } from './spawn-child.js';

const NOBODY = 65534;
const LIMIT_KIB = 64; // 16 pages: the small buffer (4 pages) fits, the big one (256 pages) does not
const checkout = resolve('.');

/** Lets any user reach the checkout (guest only: the overlay keeps it there). */
function openPathToCheckout(): void {
  for (let dir = checkout; dir !== '/'; dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o777;
    if ((mode & 0o005) !== 0o005) chmodSync(dir, mode | 0o005);
  }
}

describe.skipIf(!inLaneVm || !SETPRIV)(`an unprivileged user with the group's node (${SKIP_REASON}; lane only: it chowns /dev/vfio/N)`, () => {
  const group = onVfioHost ? testDevice().group : -1;
  const node = `/dev/vfio/${group}`;
  let owner = { uid: 0, gid: 0 };

  beforeAll(() => {
    const st = statSync(node);
    owner = { uid: st.uid, gid: st.gid };
    chownSync(node, NOBODY, NOBODY);
    openPathToCheckout();
    accessSync(`${checkout}/package.json`, constants.R_OK);
  });
  afterAll(() => chownSync(node, owner.uid, owner.gid));

  it('maps within RLIMIT_MEMLOCK, and beyond it gets ENOMEM with the memlock hint; nothing stays charged', () => {
    const r = runChild<{
      exempt: boolean; limit: string | null; lockedAfterBig: number; lockedAfterUnmap: number; lockedBeforeBig: number;
      bigError: { errno: number; code: string; hint: string | null } | null; unmappedSmall: string;
    }>('memlock-child.ts', {
      memlockKiB: LIMIT_KIB, dropIpcLock: false, user: NOBODY,
      env: { VFIO_TEST_GROUP: String(group), MEMLOCK_SMALL: String(16 * 1024), MEMLOCK_BIG: String(1024 * 1024), HOME: '/tmp' },
    });
    expect(r.exempt).toBe(false);
    expect(r.limit).toBe(String(LIMIT_KIB * 1024));
    expect(r.unmappedSmall).toBe(String(16 * 1024));
    expect(r.bigError?.errno).toBe(Errno.ENOMEM);
    expect(r.bigError?.hint).toMatch(/RLIMIT_MEMLOCK|ulimit -l|locked memory/i);
    expect(r.lockedAfterBig).toBe(r.lockedBeforeBig);
    expect(r.lockedAfterUnmap).toBe(0);
  });

  it('`vfio probe` as a user without the node says it may not open it, and how that is given', () => {
    chownSync(node, owner.uid, owner.gid);
    try {
      const r = spawnChild(`${checkout}/lib/cli/main.ts`, { memlockKiB: LIMIT_KIB, dropIpcLock: false, user: NOBODY, env: { HOME: '/tmp' } }, ['probe']);
      const stdout = String(r.stdout);
      expect(r.status, `${stdout}\n${String(r.stderr)}`).toBe(0);
      expect(String(r.stderr)).not.toMatch(/\n\s+at /);
      expect(stdout).toMatch(new RegExp(`\\n${group}\\s+yes\\s+no access\\s+`));
      expect(stdout).toMatch(new RegExp(`you may not open /dev/vfio/${group}: its owner or a udev rule must give you the node`));
      expect(stdout).toMatch(new RegExp(`Container on group ${group}: .*EACCES`));
    } finally {
      chownSync(node, NOBODY, NOBODY);
    }
  });

  it('`vfio probe` as that user: what it can and cannot see, exit 0, no stack trace', () => {
    const r = spawnChild(`${checkout}/lib/cli/main.ts`, { memlockKiB: LIMIT_KIB, dropIpcLock: false, user: NOBODY, env: { HOME: '/tmp' } }, ['probe']);
    const stdout = String(r.stdout);
    const stderr = String(r.stderr);
    console.log(`vfio probe as uid ${NOBODY}:\n${stdout}${stderr}`);
    expect(r.status, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
    expect(stderr).not.toMatch(/\n\s+at /);
    // It opens the group it was given and reads the container's GET_INFO...
    expect(stdout).toMatch(new RegExp(`\\n${group}\\s+yes\\s+yours\\s+`));
    expect(stdout).toMatch(new RegExp(`Container on group ${group} \\(type1v2?\\), VFIO_IOMMU_GET_INFO`));
    // ...and says it is held to its memlock limit, not exempt.
    expect(stdout).toMatch(/locked memory: .* of 64 KiB/);
    expect(stdout).not.toMatch(/CAP_IPC_LOCK: exempt/);
    expect(stdout).toMatch(/RLIMIT_MEMLOCK: soft 64 KiB/);
  });
});
