// Interrupt conformance against vfio-pci: only where the lane (or --host) names
// an edu device bound to vfio-pci (VFIO_TEST_GROUP, VFIO_TEST_DEVICE).
import { describe } from 'vitest';
import { openBackend } from '../../lib/open.js';
import { nativeFixture } from './fixtures.js';
import { defineIrqConformance } from './irq-suite.js';

const group = process.env['VFIO_TEST_GROUP'];
const device = process.env['VFIO_TEST_DEVICE'];
const ready = Boolean(group && device);

describe.skipIf(!ready)(ready
  ? `native interrupt conformance (group ${group}, ${device})`
  : 'native interrupt conformance (skipped: needs VFIO_TEST_GROUP and VFIO_TEST_DEVICE, an edu device bound to vfio-pci: run in the HIL lane)', () => {
  defineIrqConformance(nativeFixture(() => openBackend({ backend: 'native' }).backend, Number(group), device ?? '', null));
});
