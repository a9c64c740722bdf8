// Workers load their own copy of the addon state; leaving objects open when
// a worker (and then the process) exits must close them without crashing.
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

if (isMainThread) {
  const root = process.argv[2];
  let done = 0;
  for (let i = 0; i < 2; i++) {
    const w = new Worker(__filename, { workerData: root });
    w.on('message', (m) => console.log(m));
    w.on('error', (e) => { console.error('worker error', e); process.exitCode = 1; });
    w.on('exit', (code) => {
      if (code !== 0) process.exitCode = 1;
      if (++done === 2) {
        // And the main thread leaves its own open objects to teardown.
        const addon = require('node-gyp-build')(root);
        globalThis.keep = [addon.allocBuffer(8192n, '4k', 0n, true), addon.openContainer('/dev/null'),
          addon.openGroup(1, '/dev/null')];
        globalThis.keep.push(new Uint8Array(globalThis.keep[0].bytes()));
        console.log('main done');
      }
    });
  }
} else {
  const addon = require('node-gyp-build')(workerData);
  const bufs = [];
  for (let i = 0; i < 8; i++) bufs.push(addon.allocBuffer(1n << 16n, '4k', 0n, true));
  const view = new Uint8Array(bufs[0].bytes());
  view[0] = 1;
  const c = addon.openContainer('/dev/null');
  const g = addon.openGroup(2, '/dev/null');
  globalThis.keep = { bufs, view, c, g };
  parentPort.postMessage('worker done');
}
