// A tiny child used to check that the TypeScript hooks work on their own.
import { SZ_2M } from '../../../lib/backend.js';

process.stdout.write(`${JSON.stringify({ sz2m: SZ_2M.toString(), pid: process.pid })}\n`);
