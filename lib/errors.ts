// One error class for everything the kernel (or the simulation of it) refuses.
// It keeps the numeric errno and its symbolic code, what was attempted and with
// which arguments, and a hint for the causes people actually hit. Misuse of the
// API (wrong types) is a TypeError and out-of-range values a RangeError; those
// are not VfioErrors because no system call was involved.
import { constants } from 'node:os';
import { hintFor } from './error-hints.js';

export { Op, type OpName } from './error-hints.js';

const codeByErrno = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!codeByErrno.has(value)) codeByErrno.set(value, name);
}
// Linux numbers, so a sim on another OS still reports what the kernel would.
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  ENOTTY: 25,
  EOVERFLOW: 75,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  // iommufd: a reserved region meets a mapping or an allowed range.
  EADDRINUSE: 98,
  // An async plan stopped by its AbortSignal before an entry (never the kernel's answer here).
  ECANCELED: 125,
} as const;
for (const [name, value] of Object.entries(Errno)) codeByErrno.set(value, name);

export function errnoCode(errno: number): string {
  return codeByErrno.get(errno) ?? `E${errno}`;
}

export type VfioErrorArgs = Record<string, unknown>;

export class VfioError extends Error {
  override readonly name = 'VfioError';
  readonly errno: number;
  readonly code: string;
  readonly op: string;
  readonly args: VfioErrorArgs;
  readonly hint: string | undefined;

  constructor(errno: number, op: string, args: VfioErrorArgs = {}, hint?: string) {
    const code = errnoCode(errno);
    const why = hint ?? hintFor(code, op);
    super(`${op} failed: ${code} (errno ${errno})${formatArgs(args)}${why ? `: ${why}` : ''}`);
    this.errno = errno;
    this.code = code;
    this.op = op;
    this.args = args;
    this.hint = why;
  }
}

function formatArgs(args: VfioErrorArgs): string {
  const parts = Object.entries(args).map(([k, v]) =>
    `${k}=${typeof v === 'bigint' ? `0x${v.toString(16)}` : String(v)}`);
  return parts.length ? ` [${parts.join(' ')}]` : '';
}
