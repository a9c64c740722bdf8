// Packs this checkout once for every test in test/package: `npm pack` runs
// prepare (tsc), so the tarball holds what a publish would. Its path and its
// file list reach the tests through vitest's provide/inject.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

export interface Packed {
  tarball: string;
  files: string[];
  size: number;
  unpackedSize: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    packed: Packed;
  }
}

const root = fileURLToPath(new URL('../../', import.meta.url));

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'vfio-pack-'));
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  });
  // prepare's own output (tsc) may precede the JSON on stdout.
  const [info] = JSON.parse(out.slice(out.indexOf('[')));
  project.provide('packed', {
    tarball: join(dir, info.filename),
    files: info.files.map((f: { path: string }) => f.path),
    size: info.size,
    unpackedSize: info.unpackedSize,
  });
  return () => rmSync(dir, { recursive: true, force: true });
}
