// scripts/ensure-chromium.sh, which CI runs before `npm run test:report`:
// installs nothing when the browser is there, keeps stdout empty, refuses a
// CHROMIUM_PATH that is not a program instead of installing something else.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const run = (chromium: string) => spawnSync('bash', ['scripts/ensure-chromium.sh'], {
  encoding: 'utf8', env: { ...process.env, CHROMIUM_PATH: chromium, PATH: '/usr/bin:/bin' },
});

describe('scripts/ensure-chromium.sh', () => {
  it('with a browser present: starts it once to check it, installs nothing, prints nothing on stdout', () => {
    // `echo` stands in for the browser: it prints its arguments, which shows how the script called it.
    const r = run('/bin/echo');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('--headless --no-sandbox --disable-gpu --version\n');
  });

  it('refuses a CHROMIUM_PATH that is not an executable', () => {
    const r = run('/nonexistent/chromium');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/CHROMIUM_PATH=\/nonexistent\/chromium is not an executable; not installing anything/);
  });
});
