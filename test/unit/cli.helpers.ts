// Runs the CLI in-process and captures what it printed.
import { main, type MainDeps } from '../../lib/cli/run.js';

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
