// Module hooks that let a plain `node` child process run this repo's TypeScript
// sources (NodeNext style: `./x.js` imports that name `./x.ts` files). The HIL
// tests need real child processes (other rlimits, fewer capabilities) that use
// the library itself, and Node 20 cannot strip types on its own. The
// transform is vite's (already installed with vitest), so nothing is added.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transformWithOxc } from 'vite';

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
  const { code } = await transformWithOxc(await readFile(path, 'utf8'), path, { lang: 'ts', sourcemap: false });
  return { format: 'module', source: code, shortCircuit: true };
}
