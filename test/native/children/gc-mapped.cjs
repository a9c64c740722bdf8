// Run with --expose-gc on a VFIO host (VFIO_TEST_GROUP set). A mapped buffer
// whose JS wrapper is dropped must survive GC (the container pins it) and go
// once the mapping does.
'use strict';
const { rawSpace } = require('./raw-space.cjs');
const fs = require('node:fs');
const addon = require('node-gyp-build')(process.argv[2]);
const IOVA = 0x100000n;

function mapped(addr) {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').some((l) => {
    const [range] = l.split(' ');
    if (!range) return false;
    const [a, b] = range.split('-').map((x) => BigInt('0x' + x));
    return addr >= a && addr < b;
  });
}

async function collect() {
  for (let i = 0; i < 6; i++) {
    global.gc();
    await new Promise((r) => setImmediate(r));
  }
}

(async () => {
  const c = addon.openContainer();
  const g = addon.openGroup(Number(process.env.VFIO_TEST_GROUP));
  g.setContainer(c);
  c.setIommu(3);
  const space = rawSpace(c);
  let vaddr;
  let size;
  (() => {
    const b = addon.allocBuffer(1n << 20n, '4k', 0n, true);
    vaddr = b.vaddr;
    size = b.size;
    space.map(b.vaddr, IOVA, b.size, 3);
  })();
  await collect();
  const keptWhileMapped = mapped(vaddr);
  const unmapped = space.unmap(IOVA, size);
  await collect();
  const freedAfterUnmap = !mapped(vaddr);
  g.close();
  c.close();
  console.log(JSON.stringify({ keptWhileMapped, unmapped: unmapped.toString(), freedAfterUnmap }));
})();
