// `node test/hil/children/warm-ts-cache.mjs`: transforms every TypeScript file
// under lib/ and test/ into ts-hooks.mjs's cache, so that the lane's child
// processes (run with register-ts.mjs) find each one there and never load vite.
// scripts/hil/run.sh runs it on the host before a boot. Prints the count.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformTs } from './ts-hooks.mjs';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function* tsFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(path);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) yield path;
  }
}

let n = 0;
for (const dir of ['lib', 'test']) {
  for (const path of tsFiles(join(root, dir))) {
    await transformTs(path, readFileSync(path, 'utf8'));
    n++;
  }
}
console.log(`${n} TypeScript files in the child processes' transform cache`);
