#!/usr/bin/env node
// npm's install step for node-vfio. VFIO is Linux-only, but the simulated
// backend (bench, planner, API) runs wherever Node runs, so the install must
// never fail for want of the addon:
//   - Linux: node-gyp-build keeps the shipped prebuild when it loads here, and
//     compiles from binding.gyp when it does not. If that compile fails (no
//     compiler, no python), the package still installs, says what to install,
//     and the native backend reports itself unavailable at run time; unless
//     the compile was asked for (--build-from-source), then the install fails.
//   - elsewhere: nothing to build; one line says only the simulator works.
// The target OS is the one npm installs for: `npm install --os=darwin` on a
// Linux box prepares node_modules for a Mac (npm_config_os), as node-gyp-build
// itself honours npm_config_platform.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const platform = process.env.npm_config_os || process.env.npm_config_platform || process.platform;
const root = path.join(__dirname, '..');

if (platform !== 'linux') {
  console.log(`node-vfio: VFIO is Linux-only (installing for ${platform}): no native addon, the simulated backend works`);
  process.exit(0);
}

// What a consumer can do about a missing addon; the same advice as lib/native/load.ts gives at run time.
const FIX = 'install a compiler and python (Debian/Ubuntu: apt-get install g++ make python3; '
  + 'RHEL/Fedora: dnf install gcc-c++ make python3), then run: npm rebuild node-vfio';

// --build-from-source (npm_config_build_from_source, which node-gyp-build reads
// too) asks for a compile: then a failed one fails the install, as CI needs.
const requested = process.env.npm_config_build_from_source === 'true';

const bin = require.resolve('node-gyp-build/bin.js');
const run = spawnSync(process.execPath, [bin], { cwd: root, stdio: 'inherit' });
if (run.status !== 0) {
  const why = run.error ? run.error.message : `exit ${run.status ?? run.signal}`;
  if (requested) {
    console.error(`node-vfio: building from source was asked for and failed (${why}); ${FIX}`);
    process.exit(run.status || 1);
  }
  console.warn(`node-vfio: no prebuilt addon loads here and compiling it failed (${why}).`);
  console.warn('node-vfio: the simulated backend works; for real VFIO, ' + FIX);
}
process.exit(0);
