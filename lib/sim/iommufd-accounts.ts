// iommufd's page accounting on a simulated host (drivers/iommu/iommufd/pages.c):
// what a map charges in each IOMMU_OPTION_RLIMIT_MODE, and what /proc shows.
import type { SimHost } from './host.js';
import type { AccountMode, PinAccounts } from './iommufd-iopt.js';

/**
 * Per simulated host (one user, one mm): user->locked_vm, and mm->pinned_vm,
 * which do_update_pinned() raises for every pinned page whatever the
 * accounting mode ('none' included) and /proc shows as VmPin.
 */
const userLocked = new WeakMap<SimHost, { pages: bigint; pinned: bigint }>();

function hostCounters(host: SimHost): { pages: bigint; pinned: bigint } {
  let user = userLocked.get(host);
  if (!user) userLocked.set(host, (user = { pages: 0n, pinned: 0n }));
  return user;
}

export function hostAccounts(host: SimHost): PinAccounts {
  const u = hostCounters(host);
  const charged = (refusal: string | null, pages: bigint): string | null => {
    if (refusal === null) u.pinned += pages;
    return refusal;
  };
  return {
    charge(mode: AccountMode, pages: bigint): string | null {
      if (mode === 'none') return charged(null, pages);
      if (mode === 'mm') return charged(host.memlock.charge(pages), pages);
      // incr_user_locked_vm(): new total against RLIMIT_MEMLOCK, no CAP_IPC_LOCK exemption here (that is mode 'none').
      const limit = host.memlock.limit;
      if (limit !== null && u.pages + pages > limit >> 12n) {
        return `RLIMIT_MEMLOCK (${limit} bytes) exceeded in user->locked_vm (iommufd 'user' accounting): `
          + `${u.pages << 12n} bytes already charged to this user, ${pages << 12n} more requested`;
      }
      u.pages += pages;
      return charged(null, pages);
    },
    uncharge(mode: AccountMode, pages: bigint): void {
      if (mode === 'mm') host.memlock.uncharge(pages);
      if (mode === 'user') u.pages = u.pages > pages ? u.pages - pages : 0n;
      u.pinned = u.pinned > pages ? u.pinned - pages : 0n;
    },
  };
}

/** mm->pinned_vm (VmPin) in bytes: what iommufd has pinned for this simulated process. */
export function simPinnedBytes(host: SimHost): bigint {
  return hostCounters(host).pinned << 12n;
}
