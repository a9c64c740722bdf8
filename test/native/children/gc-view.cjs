// Run with --expose-gc. A buffer dropped without close() while JS still holds
// its bytes: the finalizer must not unmap under the live view. Then the view
// is dropped too and the pages must go.
'use strict';
const fs = require('node:fs');
const addon = require('node-gyp-build')(process.argv[2]);

function mapped(addr) {
  const hex = addr.toString(16);
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').some((l) => {
    const [range] = l.split(' ');
    if (!range) return false;
    const [a, b] = range.split('-').map((x) => BigInt('0x' + x));
    return addr >= a && addr < b;
  }) ? hex : null;
}

async function collect() {
  for (let i = 0; i < 6; i++) {
    global.gc();
    await new Promise((r) => setImmediate(r));
  }
}

(async () => {
  let view;
  let vaddr;
  (() => {
    const b = addon.allocBuffer(1n << 20n, '4k', 0n, false);
    vaddr = b.vaddr;
    view = new Uint8Array(b.bytes());
    view.fill(0xab);
  })();
  await collect();
  // The wrapper is gone; the view must still work and the pages stay mapped.
  let sum = 0;
  for (let i = 0; i < view.length; i += 4096) sum += view[i];
  const stillMapped = mapped(vaddr) !== null;
  view = null;
  await collect();
  const unmappedAfter = mapped(vaddr) === null;
  console.log(JSON.stringify({ sum, pages: (1 << 20) / 4096, stillMapped, unmappedAfter }));
})();
