// The eventfds this process holds, found as the issue asks: readlink of
// /proc/self/fd/N says 'anon_inode:[eventfd]'. Node and libuv open and close
// eventfds of their own, so tests compare against a snapshot and look only at
// descriptors that are new since.
import { readdirSync, readlinkSync } from 'node:fs';

export function eventfdSet(): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[eventfd]') out.add(fd);
    } catch {
      /* the fd readdir itself used is gone by now */
    }
  }
  return out;
}

/** Eventfds opened since `base` was taken (one of Node's own vanished between two reads in the lane). */
export function newEventfds(base: Set<string>): string[] {
  return [...eventfdSet()].filter((fd) => !base.has(fd));
}
