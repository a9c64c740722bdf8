// `bench --report DIR` is checked before the run: a path that cannot take the
// report is a usage error now, not after minutes of measuring. Nothing is
// created here (the report writer makes DIR at the end), so a refused or
// failed run leaves no empty directory behind.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './exit-codes.js';

function statOrNull(path: string) {
  try {
    return statSync(path);
  } catch (err) {
    // ENOTDIR: a file sits on the way; climbing up finds it and says so.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new UsageError(`--report ${path}: ${(err as Error).message}`);
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Throws a UsageError unless DIR is a writable directory, or could be made inside one. */
export function checkReportDir(dir: string): void {
  if (dir.trim() === '') throw new UsageError('--report wants a directory, got ""');
  const full = resolve(dir);
  const st = statOrNull(full);
  if (st) {
    if (!st.isDirectory()) throw new UsageError(`--report ${dir}: exists and is not a directory`);
    if (!writable(full)) throw new UsageError(`--report ${dir}: the directory is not writable`);
    return;
  }
  // Missing: the report writer creates it and its missing parents; the nearest
  // existing ancestor must be a directory we can create in.
  let parent = dirname(full);
  let pst = statOrNull(parent);
  while (!pst && parent !== dirname(parent)) {
    parent = dirname(parent);
    pst = statOrNull(parent);
  }
  if (!pst?.isDirectory()) throw new UsageError(`--report ${dir}: ${parent} is not a directory`);
  if (!writable(parent)) throw new UsageError(`--report ${dir}: cannot create it, ${parent} is not writable`);
}
