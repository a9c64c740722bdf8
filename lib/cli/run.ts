// The whole CLI as one function: argv in, exit code out, output through `io`.
// Nothing here calls process.exit, so tests run it in-process.
import { readFileSync } from 'node:fs';
import { BaselineError } from '../bench/compare.js';
import { defaultPlanner } from '../bench/planner.js';
import type { BenchPlanner } from '../bench/runner.js';
import { VfioError } from '../errors.js';
import { parseCli, type CliArgs } from './args.js';
import { defaultOpener, type BackendOpener } from './backends.js';
import { runBench } from './bench.js';
import { runBind, runUnbind } from './bind.js';
import { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, UsageError } from './exit-codes.js';
import { processIo, type CliIo } from './io.js';
import { runProbe } from './probe.js';
import { checkReportDir } from './report-path.js';
import { isCommand, usageFor } from './usage.js';

export interface MainDeps {
  open?: BackendOpener;
  planner?: BenchPlanner;
}

function version(): string {
  // lib/cli and dist/cli are both two levels below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function fail(err: unknown, debug: boolean, io: CliIo, command: string | undefined): number {
  const usage = err instanceof UsageError || err instanceof BaselineError;
  const msg = err instanceof Error ? err.message : String(err);
  io.stderr.write(`vfio: ${msg}\n`);
  // Point at the help page that lists what was mistyped.
  if (usage) io.stderr.write(`Run "vfio ${isCommand(command) ? `${command} ` : ''}--help" for usage.\n`);
  if (err instanceof VfioError && !msg.includes(err.hint ?? '\0')) io.stderr.write(`hint: ${err.hint}\n`);
  if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return usage ? EXIT_USAGE : EXIT_RUNTIME;
}

export async function main(argv: string[], io: CliIo = processIo(), deps: MainDeps = {}): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCli(argv);
  } catch (err) {
    return fail(err, argv.includes('--debug'), io, argv[0]);
  }
  try {
    switch (args.cmd) {
      case 'help':
        // Bare `vfio` asked for nothing: the overview goes to stderr and the exit says "usage".
        if (args.bare) {
          io.stderr.write(usageFor(null));
          return EXIT_USAGE;
        }
        io.stdout.write(usageFor(args.topic));
        return EXIT_OK;
      case 'version':
        io.stdout.write(`${version()}\n`);
        return EXIT_OK;
      case 'bind':
        return runBind(args, io);
      case 'unbind':
        return runUnbind(args, io);
      case 'probe': {
        return runProbe(args, io, deps.open ?? defaultOpener);
      }
      case 'bench':
        // Before the run, not after it: a report that cannot be written is a usage error now.
        if (args.report !== null) checkReportDir(args.report);
        return await runBench(args, io, {
          open: deps.open ?? defaultOpener,
          planner: deps.planner ?? defaultPlanner,
        });
    }
  } catch (err) {
    return fail(err, args.debug, io, argv[0]);
  }
}
