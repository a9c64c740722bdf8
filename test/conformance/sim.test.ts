// The conformance suite against the simulated backend (always runs), once per IOMMU profile it imitates.
import { simFixtures } from './fixtures.js';
import { defineConformance } from './suite.js';

for (const fx of simFixtures) defineConformance(fx);
