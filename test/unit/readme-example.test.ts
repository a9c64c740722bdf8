// The README's example must run as printed: this runs examples/map-and-measure.ts
// (the file the README quotes) on whatever backend this host gives.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mapAndMeasure } from '../../examples/map-and-measure.js';
import { quickStart } from '../../examples/quick-start.mjs';

describe('README example', () => {
  it('maps 512 contiguous pages of a THP buffer in one call and unmaps them', () => {
    const result = mapAndMeasure();
    expect(result.calls).toBe(1);
    expect(result.ns).toBeGreaterThan(0);
  });

  it('is the code the README shows', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../../examples/map-and-measure.ts', import.meta.url), 'utf8');
    const body = example.slice(example.indexOf('export function'));
    expect(readme).toContain(body.trim());
  });

  it('the plain-JavaScript quick start runs as printed and is what the README shows', () => {
    const r = quickStart();
    expect(r.unmapped).toBe(1n << 20n);
    expect(r.iova % 4096n).toBe(0n);
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../../examples/quick-start.mjs', import.meta.url), 'utf8');
    expect(readme).toContain(example.slice(example.indexOf('export function')).trim());
  });
});
