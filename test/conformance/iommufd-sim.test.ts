// The iommufd conformance suite against the simulated /dev/iommu (always runs), once per IOMMU profile.
import { SimBackend, SIM_IOMMU_NAMES } from '../../lib/sim/index.js';
import { defineIommufdConformance } from './iommufd-suite.js';

for (const iommu of SIM_IOMMU_NAMES) {
  defineIommufdConformance({
    label: `sim-iommufd ${iommu}`,
    open: () => new SimBackend({ iommu }),
    cdev: 'vfio0',
    sysResource: true,
  });
}
