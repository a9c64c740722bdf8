// A one-line progress bar on stderr for long runs; silent when stderr is not a
// terminal, so logs and pipes get no carriage-return garbage. It shows the
// cell being measured (sizes in KiB/MiB/GiB, as the caller labels them) and,
// once a cell has finished, an estimate of the time left from the mean time
// per cell so far.

export interface ProgressSink {
  write(text: string): void;
  isTTY?: boolean;
}

const LINE = 100;

/** 0s, 42s, 3m05s, 1h02m: short enough for the end of a terminal line. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function progressBar(
  sink: ProgressSink,
  width = 30,
  now: () => number = () => performance.now(),
): (done: number, total: number, label: string) => void {
  if (!sink.isTTY) return () => {};
  const start = now();
  let lastText = '';
  return (done, total, label) => {
    if (done >= total) {
      // Clear the line when done so the table starts on a clean one.
      sink.write(`\r${' '.repeat(LINE)}\r`);
      return;
    }
    const filled = total ? Math.round((done / total) * width) : width;
    // Cells differ a lot in cost (1 page vs 1 GiB): the mean so far is a rough guide, said as such.
    const eta = done > 0 ? ` ~${formatEta(((now() - start) / 1000 / done) * (total - done))} left` : '';
    const text = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${eta} ${label}`.slice(0, LINE);
    if (text === lastText) return;
    lastText = text;
    sink.write(`\r${text.padEnd(LINE)}`);
  };
}
