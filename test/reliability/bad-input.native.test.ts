// The bad-input matrix on the native backend. The Backend table (argument
// checks, allocBuffer's mmap) runs wherever the addon loads; the rest needs a
// real container, group and device: the HIL lane (VFIO_TEST_GROUP / _DEVICE).
// A crash in the addon kills only this file's forked worker, and fails it.
import { describe, it } from 'vitest';
import { NativeBackend, nativeAvailability } from '../../lib/native/index.js';
import { SimBackend } from '../../lib/sim/index.js';
import { onVfioHost, SKIP_REASON } from '../hil/lane.js';
import { defineMatrix } from './bad-input/matrix.js';
import { runTable } from './bad-input/table.js';
import { backendCases } from './bad-input/tables.js';

const loaded = nativeAvailability();
const group = process.env['VFIO_TEST_GROUP'];
const device = process.env['VFIO_TEST_DEVICE'];
const hil = onVfioHost && Boolean(group && device) && loaded.available;

describe.skipIf(!loaded.available || hil)(`bad input: native, no VFIO here${loaded.available ? '' : ` (skipped: ${loaded.reason})`}`, () => {
  it('Backend: openGroup and allocBuffer', () => {
    runTable('Backend', 'native', backendCases(new NativeBackend()));
  });
});

describe.skipIf(!hil)(`bad input: native on a real kernel${hil ? '' : ` (skipped: ${SKIP_REASON})`}`, () => {
  if (!hil) {
    it('needs the HIL lane', () => {});
    return;
  }
  defineMatrix({
    label: 'native',
    backend: new NativeBackend(),
    group: Number(group),
    device: device!,
    foreignContainer: () => new SimBackend().openContainer(),
  });
});
