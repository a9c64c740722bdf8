// map and unmap on a bare addon's container, the way lib/native/space.ts
// makes them (native/space_calls.h): for children that load the addon alone.
'use strict';

exports.rawSpace = (handle) => {
  const calls = handle.spaceCalls();
  const words = new BigUint64Array(calls.block, 0, 6);
  const check = (op, err) => {
    if (err !== 0) throw Object.assign(new Error(`${op} failed: errno ${err}`), { errno: err });
  };
  return {
    map(vaddr, iova, size, prot = 3) {
      words.set([vaddr, iova, size, BigInt(prot)]);
      check('map', calls.map());
    },
    unmap(iova, size) {
      words[1] = iova;
      words[2] = size;
      check('unmap', calls.unmap());
      return words[4];
    },
  };
};
