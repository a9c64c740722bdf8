// The bad-input matrix on the simulated backend (always runs).
import { SIM_DEFAULT_DEVICE, SIM_DEFAULT_GROUP, SimBackend } from '../../lib/sim/index.js';
import { defineMatrix } from './bad-input/matrix.js';

const backend = new SimBackend();
defineMatrix({
  label: 'sim',
  backend,
  group: SIM_DEFAULT_GROUP,
  device: SIM_DEFAULT_DEVICE,
  foreignContainer: () => new SimBackend().openContainer(),
});
