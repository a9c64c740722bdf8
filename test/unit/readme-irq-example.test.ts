// The README's Interrupts example runs as printed (examples/edu-interrupt.ts),
// on the sim in npm test (test/unit is not part of the HIL lane: test/hil/edu-irq drives the same steps there).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eduInterrupt } from '../../examples/edu-interrupt.js';

describe('README interrupts example', () => {
  it('awaits edu\'s DMA completion as one MSI', async () => {
    const r = await eduInterrupt();
    expect(r.count).toBe(1n);
  });

  it('is the code the README shows', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../../examples/edu-interrupt.ts', import.meta.url), 'utf8');
    expect(readme).toContain(example.slice(example.indexOf('export async function')).trim());
  });
});
