// The guest kernel's log, read record by record from /dev/kmsg, so a test can
// assert what the kernel said about something it just did (an IOMMU fault).
import { closeSync, constants, openSync, readSync } from 'node:fs';

export class KernelLog implements Disposable {
  private readonly fd: number;
  private readonly buf = Buffer.alloc(8192);

  /** Opens at the end of the log: only messages from now on are seen. */
  constructor() {
    this.fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
    this.drain();
  }

  /** Messages logged since the last call (text only, no prefix). */
  drain(): string[] {
    const lines: string[] = [];
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') return lines;
        if (code === 'EPIPE') continue; // records were overwritten; read on from the oldest left
        throw err;
      }
      const record = this.buf.toString('utf8', 0, n);
      const text = record.slice(record.indexOf(';') + 1).split('\n')[0]!;
      lines.push(text);
    }
  }

  /** Waits until a message matching `pattern` arrives; all messages seen meanwhile are returned. */
  async waitFor(pattern: RegExp, timeoutMs = 3000): Promise<{ match: string | null; seen: string[] }> {
    const seen: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      seen.push(...this.drain());
      const match = seen.find((line) => pattern.test(line)) ?? null;
      if (match || Date.now() > deadline) return { match, seen };
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private closed = false;

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
