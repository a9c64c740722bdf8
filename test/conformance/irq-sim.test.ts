// Interrupt conformance against the simulated backend (always runs), once per IOMMU profile.
import { simFixtures } from './fixtures.js';
import { defineIrqConformance } from './irq-suite.js';

for (const fx of simFixtures) defineIrqConformance(fx);
