// The conformance suite against the native backend: only where a real
// vfio_iommu_type1 answers (the HIL lane, or a VFIO host), named by
// VFIO_TEST_GROUP (IOMMU group of an edu device bound to vfio-pci) and
// VFIO_TEST_DEVICE (its PCI address). VFIO_TEST_NONVIABLE_GROUP optionally
// names a group that is not viable.
import { describe } from 'vitest';
import { openBackend } from '../../lib/open.js';
import { nativeFixture } from './fixtures.js';
import { defineConformance } from './suite.js';

const group = process.env['VFIO_TEST_GROUP'];
const device = process.env['VFIO_TEST_DEVICE'];
const nonViable = process.env['VFIO_TEST_NONVIABLE_GROUP'];
const ready = Boolean(group && device);
const title = ready
  ? `native backend conformance (group ${group}, ${device})`
  : 'native backend conformance (skipped: needs VFIO_TEST_GROUP and VFIO_TEST_DEVICE, an edu device bound to vfio-pci: run in the HIL lane)';

describe.skipIf(!ready)(title, () => {
  defineConformance(nativeFixture(
    () => openBackend({ backend: 'native' }).backend,
    Number(group),
    device ?? '',
    nonViable ? Number(nonViable) : null,
  ));
});
