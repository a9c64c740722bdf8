// Where the CLI writes, injected so tests run main() in-process and read what it printed.
export interface OutStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  /** Root of the sysfs/procfs tree to read and write ('/' for real; a fake tree in tests). */
  sysfsRoot?: string;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr };
}
