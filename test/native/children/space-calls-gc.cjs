// Run with --expose-gc (space-calls.test.ts). A space's hot calls and block
// are kept, the space itself dropped and collected: the calls must then
// answer "closed" (-1) and the block stay writable memory, never freed under
// them (the Bond in native/space_calls.cc). Prints one JSON line.
'use strict';
const addon = require('node-gyp-build')(process.argv[2]);

async function collect() {
  for (let i = 0; i < 8; i++) {
    for (let j = 0; j < 200; j++) new ArrayBuffer(64 * 1024);
    global.gc();
    await new Promise((r) => setImmediate(r));
  }
}

(async () => {
  let collected = false;
  const registry = new FinalizationRegistry(() => {
    collected = true;
  });
  let calls;
  (() => {
    const space = addon.openOverheadSpace();
    registry.register(space, 'space');
    calls = space.spaceCalls();
    // Leave a mapping in its books: the space's finalizer releases it.
    const w = new BigUint64Array(calls.block, 0, 4);
    w.set([0x1000n, 0x10000n, 4096n, 3n]);
    if (calls.map() !== 0) throw new Error('map failed');
  })();
  for (let i = 0; i < 10 && !collected; i++) await collect();
  const words = new BigUint64Array(calls.block, 0, 6);
  words.set([0x1000n, 0x20000n, 4096n, 3n]);
  const map = calls.map();
  const unmap = calls.unmap();
  words[5] = 0x5an;
  console.log(JSON.stringify({ collected, map, unmap, blockWritable: words[5] === 0x5an }));
})();
