// Four workers load the addon at once, each allocating its own buffers (its
// own per-environment state). Two are terminated while spinning in JS, two
// exit with their buffers open; every worker's memory must be unmapped by its
// environment's teardown. Then a native buffer from the main thread is posted
// to a worker: what arrives is an inert copy that the worker's own addon
// refuses, and transferring its memory only copies it. Prints one JSON line.
'use strict';
const fs = require('node:fs');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

const mapped = (vaddr) => {
  const at = BigInt(vaddr);
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').some((l) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(l);
    return m !== null && BigInt(`0x${m[1]}`) <= at && at < BigInt(`0x${m[2]}`);
  });
};

if (isMainThread) {
  const root = process.argv[2];
  const N = 4;
  const seen = [];
  let exited = 0;
  const codes = [];
  const workers = [];
  for (let i = 0; i < N; i++) {
    const w = new Worker(__filename, { workerData: { root, role: 'alloc', spin: i < 2 } });
    workers.push(w);
    w.on('message', (m) => {
      seen.push(...m.vaddrs);
      // Only once every worker holds its buffers (else a freed address is reused):
      // terminate two, let the other two leave with theirs open.
      if (seen.length < 3 * N) return;
      workers.forEach((x, k) => (k < 2 ? x.terminate() : x.postMessage('go')));
    });
    w.on('exit', (code) => {
      codes[i] = code;
      if (++exited < N) return;
      const result = {
        buffers: seen.length,
        distinct: new Set(seen).size,
        leftMapped: seen.filter(mapped).length,
        codes,
      };
      crossThread(root, result);
    });
  }
} else if (workerData.role === 'alloc') {
  const addon = require('node-gyp-build')(workerData.root);
  const bufs = [];
  for (const backing of ['4k', 'thp', '4k']) bufs.push(addon.allocBuffer(1n << 22n, backing, 0n, true));
  for (const b of bufs) new Uint8Array(b.bytes()).fill(0xa5);
  globalThis.keep = bufs;
  if (!workerData.spin) parentPort.once('message', () => parentPort.close());
  parentPort.postMessage({ vaddrs: bufs.map((b) => String(b.vaddr)) });
  if (workerData.spin) for (;;);
} else {
  // role 'receive': what a native object becomes on the way in.
  const addon = require('node-gyp-build')(workerData.root);
  const own = addon.allocBuffer(4096n, '4k', 0n, false);
  parentPort.on('message', (m) => {
    let refused = null;
    try {
      Object.getPrototypeOf(own).close.call(m.buffer);
    } catch (e) {
      refused = e.constructor.name;
    }
    parentPort.postMessage({
      keys: Object.keys(m.buffer),
      hasMethods: typeof m.buffer.close === 'function',
      refused,
      copiedFirstByte: new Uint8Array(m.bytes)[0],
    });
    own.close();
    process.exit(0);
  });
}

function crossThread(root, result) {
  const addon = require('node-gyp-build')(root);
  const buf = addon.allocBuffer(4096n, '4k', 0n, true);
  const bytes = buf.bytes();
  new Uint8Array(bytes)[0] = 7;
  const w = new Worker(__filename, { workerData: { root, role: 'receive' } });
  w.on('message', (m) => {
    // The transfer list could not take the buffer's memory away: still here, still ours.
    result.cross = { ...m, mainStillHas: bytes.byteLength === 4096 && new Uint8Array(bytes)[0] === 7 };
    buf.close();
    console.log(JSON.stringify(result));
  });
  w.postMessage({ buffer: buf, bytes }, [bytes]);
}
