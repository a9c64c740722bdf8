// The conformance suite against the simulated backend (always runs).
import { simFixture } from './fixtures.js';
import { defineConformance } from './suite.js';

defineConformance(simFixture);
