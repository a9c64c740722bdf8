// The locked-memory budget vfio_iommu_type1 charges pinned pages to: the
// RLIMIT_MEMLOCK soft limit (from getrlimit, in the addon), what is already
// locked or pinned (VmLck + VmPin in /proc/self/status), and whether
// CAP_IPC_LOCK (bit 14 of CapEff) exempts the process from the limit.
import { readFileSync } from 'node:fs';
import type { MemlockStatus } from '../backend.js';

export const CAP_IPC_LOCK = 14;

export interface ProcStatusMemlock {
  locked: bigint;
  exempt: boolean;
}

function kbField(status: string, name: string): bigint {
  const m = new RegExp(`^${name}:\\s*(\\d+)\\s*kB\\s*$`, 'm').exec(status);
  return m ? BigInt(m[1]!) * 1024n : 0n;
}

/** Parses /proc/self/status text; absent fields count as zero / no capability. */
export function parseProcStatus(status: string): ProcStatusMemlock {
  const locked = kbField(status, 'VmLck') + kbField(status, 'VmPin');
  const cap = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  const exempt = cap ? ((BigInt(`0x${cap[1]!}`) >> BigInt(CAP_IPC_LOCK)) & 1n) === 1n : false;
  return { locked, exempt };
}

export function readMemlock(limit: () => bigint | null): MemlockStatus {
  const { locked, exempt } = parseProcStatus(readFileSync('/proc/self/status', 'utf8'));
  return { limit: limit(), locked, exempt };
}
