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
  /** Run as this uid/gid, with no supplementary groups and no capabilities (an unprivileged user). */
  user?: number;
  env?: Record<string, string>;
}

export function runChild<T>(script: string, opts: ChildOptions): T {
  return JSON.parse(lastLine(spawnChild(script, opts), script)) as T;
}

/** Runs a child script as runChild does and returns how it ended, whatever it printed. */
export function spawnChild(script: string, opts: ChildOptions, args: string[] = []) {
  if ((opts.dropIpcLock || opts.user !== undefined) && !SETPRIV) throw new Error('setpriv (util-linux) is needed to drop privileges');
  const drop = opts.user !== undefined
    ? `${SETPRIV} --reuid=${opts.user} --regid=${opts.user} --clear-groups --inh-caps=-all --bounding-set=-all -- `
    : opts.dropIpcLock ? `${SETPRIV} --inh-caps=-ipc_lock --bounding-set=-ipc_lock -- ` : '';
  return spawnSync(
    '/bin/sh',
    ['-c', `ulimit -l ${opts.memlockKiB} && exec ${drop}"$@"`, 'sh',
      process.execPath, '--import', `${childrenDir}register-ts.mjs`, script.startsWith('/') ? script : `${childrenDir}${script}`, ...args],
    { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...opts.env } },
  );
}

function lastLine(result: ReturnType<typeof spawnSync>, script: string): string {
  const stdout = String(result.stdout);
  const lines = stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  if (result.status !== 0 || !last.startsWith('{')) {
    throw new Error(`child ${script} exited ${result.status ?? result.signal}\nstdout:\n${stdout}\nstderr:\n${String(result.stderr)}`);
  }
  return last;
}
