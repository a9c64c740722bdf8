// Prints getrlimit(RLIMIT_MEMLOCK) as the addon sees it (run under `ulimit -l`).
'use strict';
const addon = require('node-gyp-build')(process.argv[2]);
const limit = addon.memlockLimit();
console.log(limit === null ? 'unlimited' : limit.toString());
