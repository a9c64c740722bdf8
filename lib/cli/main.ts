#!/usr/bin/env node
// The `vfio` executable (package.json "bin"). Everything else lives in run.ts,
// which tests import; this file only connects it to the process.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from './run.js';

export { main };

// npm links bin entries through symlinks: compare real paths.
function isEntry(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (err: unknown) => {
    process.stderr.write(`vfio: internal error: ${String(err)}\n`);
    process.exitCode = 1;
  });
}
