// The process's open file descriptors, as the kernel lists them: a real leak
// (a container, group, device or iommufd never closed, a file left open) is
// an entry here that was not there before. The simulator opens no fds, so on
// the sim this sees only what the process really opened.
import { readdirSync, readlinkSync } from 'node:fs';

/** fd number -> what it points at; null where the OS has no fd directory to read. */
export type FdTable = Map<number, string>;

const FD_DIRS = ['/proc/self/fd', '/dev/fd'];

export function openFds(): FdTable | null {
  for (const dir of FD_DIRS) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    const table: FdTable = new Map();
    for (const name of names) {
      let target: string;
      try {
        target = readlinkSync(`${dir}/${name}`);
      } catch {
        // Closed between the listing and the readlink: the fd the listing
        // itself used, or one another part of the process just closed.
        continue;
      }
      table.set(Number(name), target);
    }
    return table;
  }
  return null;
}

/** Entries of `now` that `before` did not have (a reused number with a new target counts as new). */
export function newFds(before: FdTable, now: FdTable): string[] {
  const added: string[] = [];
  for (const [fd, target] of now) {
    if (before.get(fd) !== target) added.push(`${fd} -> ${target}`);
  }
  return added;
}
