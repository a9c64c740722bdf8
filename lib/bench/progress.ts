// A one-line progress bar on stderr for long runs; silent when stderr is not a
// terminal, so logs and pipes get no carriage-return garbage.

export interface ProgressSink {
  write(text: string): void;
  isTTY?: boolean;
}

export function progressBar(sink: ProgressSink, width = 30): (done: number, total: number, label: string) => void {
  if (!sink.isTTY) return () => {};
  let last = -1;
  return (done, total, label) => {
    const filled = total ? Math.round((done / total) * width) : width;
    if (filled === last && done !== total) return;
    last = filled;
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`.slice(0, 100);
    // Clear the line when done so the table starts on a clean one.
    sink.write(done === total ? `\r${' '.repeat(100)}\r` : `\r${bar.padEnd(100)}`);
  };
}
