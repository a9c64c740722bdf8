// Runs one of test/hil/children/*.ts in a fresh `node` process with a chosen
// RLIMIT_MEMLOCK and, optionally, without CAP_IPC_LOCK, and returns the JSON
// line it prints last. Root normally holds CAP_IPC_LOCK, which exempts it
// from RLIMIT_MEMLOCK; util-linux `setpriv` removes it from the bounding and
// inheritable sets before exec, so the child is still root (it can open the
// group) but is held to the limit like any other user.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const childrenDir = fileURLToPath(new URL('./children/', import.meta.url));

export const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;

export interface ChildOptions {
  /** RLIMIT_MEMLOCK in KiB (`ulimit -l`). */
  memlockKiB: number;
  dropIpcLock: boolean;
  env?: Record<string, string>;
}

export function runChild<T>(script: string, opts: ChildOptions): T {
  if (opts.dropIpcLock && !SETPRIV) throw new Error('setpriv (util-linux) is needed to drop CAP_IPC_LOCK');
  const drop = opts.dropIpcLock ? `${SETPRIV} --inh-caps=-ipc_lock --bounding-set=-ipc_lock -- ` : '';
  const result = spawnSync(
    '/bin/sh',
    ['-c', `ulimit -l ${opts.memlockKiB} && exec ${drop}"$@"`, 'sh',
      process.execPath, '--import', `${childrenDir}register-ts.mjs`, `${childrenDir}${script}`],
    { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...opts.env } },
  );
  const lines = result.stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  if (result.status !== 0 || !last.startsWith('{')) {
    throw new Error(`child ${script} exited ${result.status ?? result.signal}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
  return JSON.parse(last) as T;
}
