// Interrupt conformance against the simulated backend (always runs).
import { simFixture } from './fixtures.js';
import { defineIrqConformance } from './irq-suite.js';

defineIrqConformance(simFixture);
