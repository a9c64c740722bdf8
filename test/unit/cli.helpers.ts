// Runs the CLI in-process and captures what it printed.
import type { BackendOpener } from '../../lib/cli/backends.js';
import { main, type MainDeps } from '../../lib/cli/run.js';
import { VfioError } from '../../lib/errors.js';

/** A backend opener for a host where the native addon cannot open /dev/vfio: probe then reads sysfs alone. */
export const noNative: BackendOpener = () => {
  throw new VfioError(2, 'open /dev/vfio/vfio', {}, 'native addon not built here');
};

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(argv: string[], opts: { sysfsRoot?: string; tty?: boolean } & MainDeps = {}): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const { sysfsRoot, tty, ...deps } = opts;
  const code = await main(argv, {
    stdout: { write: (s: string) => (stdout += s), isTTY: tty ?? false },
    stderr: { write: (s: string) => (stderr += s), isTTY: tty ?? false },
    ...(sysfsRoot ? { sysfsRoot } : {}),
  }, deps);
  return { code, stdout, stderr };
}
