// The conformance suite against the native backend: only where a real
// vfio_iommu_type1 answers (the HIL lane, or a VFIO host), named by
// VFIO_TEST_GROUP (IOMMU group of an edu device bound to vfio-pci) and
// VFIO_TEST_DEVICE (its PCI address).
import { describe } from 'vitest';
import { nativeFixture } from './fixtures.js';
import { defineConformance } from './suite.js';

const group = process.env['VFIO_TEST_GROUP'];
const device = process.env['VFIO_TEST_DEVICE'];
const nonViable = process.env['VFIO_TEST_NONVIABLE_GROUP'];
const reason = 'needs VFIO_TEST_GROUP and VFIO_TEST_DEVICE (an edu device bound to vfio-pci): run in the HIL lane';

describe.skipIf(!group || !device)(`native backend conformance (${group && device ? `group ${group}, ${device}` : reason})`, async () => {
  const { openBackend } = await import('../../lib/open.js');
  defineConformance(nativeFixture(
    () => openBackend({ backend: 'native' }).backend,
    Number(group),
    device!,
    nonViable ? Number(nonViable) : null,
  ));
});
