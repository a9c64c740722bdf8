// The locked-memory budget vfio_iommu_type1 charges pinned pages to: the
// RLIMIT_MEMLOCK soft limit (from getrlimit, in the addon), what is already
// locked or pinned (VmLck + VmPin in /proc/self/status), and whether
// CAP_IPC_LOCK (bit 14 of CapEff) exempts the process from the limit.
// iommufd holds an IOAS's pins against the same limit in one of two counters
// (IOMMU_OPTION_RLIMIT_MODE, pages.c do_update_pinned): 'mm' is
// mm->locked_vm, VmLck; 'user' is user->locked_vm, which /proc does not show
// and every process of the user shares: this process's own share is its
// VmPin (pinned_vm, which iommufd raises for every page it pins in any mode).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { MemlockAccount, MemlockStatus } from '../backend.js';

export const CAP_IPC_LOCK = 14;

export interface ProcStatusMemlock {
  locked: bigint;
  exempt: boolean;
}

// One compiled pattern per field, kept: a batch's first limits check parses
// this text, and compiling the patterns anew cost ~3 us of its ~43 (host).
const FIELD = new Map<string, RegExp>();

function kbField(status: string, name: string): bigint {
  let re = FIELD.get(name);
  if (re === undefined) FIELD.set(name, (re = new RegExp(`^${name}:\\s*(\\d+)\\s*kB\\s*$`, 'm')));
  const m = re.exec(status);
  return m ? BigInt(m[1]!) * 1024n : 0n;
}

/** Parses /proc/self/status text; absent fields count as zero / no capability. */
export function parseProcStatus(status: string): ProcStatusMemlock {
  const locked = kbField(status, 'VmLck') + kbField(status, 'VmPin');
  const cap = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  const exempt = cap ? ((BigInt(`0x${cap[1]!}`) >> BigInt(CAP_IPC_LOCK)) & 1n) === 1n : false;
  return { locked, exempt };
}

/** VmLck (mm->locked_vm) and VmPin (mm->pinned_vm) in bytes; absent fields count as zero. */
export function parseVmCounters(status: string): { vmLck: bigint; vmPin: bigint } {
  return { vmLck: kbField(status, 'VmLck'), vmPin: kbField(status, 'VmPin') };
}

/**
 * The counter an iommufd IOAS in `mode` charges, with what this process can see of it (see MemlockAccount):
 * 'mm' VmLck exactly; 'user' only this process's VmPin; nothing with CAP_IPC_LOCK (iopt_alloc_pages
 * accounts IOPT_PAGES_ACCOUNT_NONE).
 */
export function iommufdAccount(mode: 'user' | 'mm', status: string, exempt: boolean): MemlockAccount {
  if (exempt) return { counter: 'none', charged: 0n };
  const { vmLck, vmPin } = parseVmCounters(status);
  return mode === 'mm' ? { counter: 'mm', charged: vmLck } : { counter: 'user', charged: vmPin };
}

/** The budget; with `iommufdMode`, as an IOAS of an iommufd in that IOMMU_OPTION_RLIMIT_MODE is charged. */
export function readMemlock(limit: () => bigint | null, iommufdMode?: 'user' | 'mm'): MemlockStatus {
  return memlockOf(readFileSync('/proc/self/status', 'utf8'), limit, iommufdMode);
}

/**
 * readMemlock with the /proc read on libuv's thread pool. The kernel builds
 * /proc/self/status on every read (walking the mm), which is most of a cold
 * limits check: ~40 us on a host, 4-25 ms under emulation, on the event loop
 * if read synchronously. mapBatchAsync reads it this way.
 */
export async function readMemlockAsync(limit: () => bigint | null, iommufdMode?: 'user' | 'mm'): Promise<MemlockStatus> {
  return memlockOf(await readFile('/proc/self/status', 'utf8'), limit, iommufdMode);
}

function memlockOf(status: string, limit: () => bigint | null, iommufdMode?: 'user' | 'mm'): MemlockStatus {
  const { locked, exempt } = parseProcStatus(status);
  if (iommufdMode === undefined) return { limit: limit(), locked, exempt };
  return { limit: limit(), locked, exempt, account: iommufdAccount(iommufdMode, status, exempt) };
}
