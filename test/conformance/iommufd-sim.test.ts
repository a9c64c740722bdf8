// The iommufd conformance suite against the simulated /dev/iommu (always runs).
import { SimBackend } from '../../lib/sim/index.js';
import { defineIommufdConformance } from './iommufd-suite.js';

defineIommufdConformance({
  label: 'sim-iommufd',
  open: () => new SimBackend(),
  cdev: 'vfio0',
  sysResource: true,
});
