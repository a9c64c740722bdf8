// Module hooks that let a plain `node` child process run this repo's TypeScript
// sources (NodeNext style: `./x.js` imports that name `./x.ts` files). The HIL
// tests need real child processes (other rlimits, fewer capabilities) that use
// the library itself, and Node 20 cannot strip types on its own. The
// transform is vite's (already installed with vitest), so nothing is added.
// Its output is kept on disk, keyed on the source: under TCG, importing vite
// alone cost each child ~10 s, so vite is loaded only for a file not seen yet
// (scripts/hil/run.sh fills the cache on the host before a boot).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const CACHE = fileURLToPath(new URL('../../../node_modules/.cache/node-vfio/ts-hooks/', import.meta.url));
let vite = null;

/** `source` (TypeScript) as JavaScript: from the cache, else transformed and kept there. */
export async function transformTs(path, source) {
  const key = createHash('sha256').update('oxc-esm-1\0').update(source).digest('hex');
  const file = `${CACHE}${key}.js`;
  try {
    return readFileSync(file, 'utf8');
  } catch {
    // not transformed yet
  }
  vite ??= await import('vite');
  const { code } = await vite.transformWithOxc(source, path, { lang: 'ts', sourcemap: false });
  try {
    mkdirSync(CACHE, { recursive: true });
    const tmp = `${file}.${process.pid}`; // whole or absent: another process may read it meanwhile
    writeFileSync(tmp, code);
    renameSync(tmp, file);
  } catch {
    // a read-only tree: transform again next time
  }
  return code;
}

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    const relative = specifier.startsWith('.') || specifier.startsWith('file:');
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !relative || !specifier.endsWith('.js')) throw err;
    return next(`${specifier.slice(0, -3)}.ts`, context);
  }
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const path = fileURLToPath(url);
  return { format: 'module', source: await transformTs(path, await readFile(path, 'utf8')), shortCircuit: true };
}
