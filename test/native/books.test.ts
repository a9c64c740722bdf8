// The mapping books (native/books.h): which records an unmap removes under
// each kernel's rule, and that every buffer pin is released exactly once.
// The class has no N-API in it, so it is compiled here on its own, with the
// sanitizers, and driven through test/native/children/books.cc; the same code
// runs inside the addon behind Container and Ioas (map, unmap, runPlan,
// copyFrom), which only the HIL lane can drive for real.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const native = fileURLToPath(new URL('../../native/', import.meta.url));
const driver = fileURLToPath(new URL('./children/books.cc', import.meta.url));
const gxx = spawnSync('g++', ['--version']).status === 0;
// Neither the compiler nor the driver may inherit scripts/asan.sh's preload
// and report paths: the driver carries its own sanitizers and reports on stderr.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(LD_PRELOAD|ASAN_OPTIONS|UBSAN_OPTIONS)$/.test(k)));

let dir = '';
let bin = '';

// Pure C++ with no kernel: it runs in npm test; compiling it in the emulated HIL guest took 45 s.
describe.skipIf(!gxx || process.env.VFIO_HIL === '1')('MappingBooks (native/books.h; needs g++; host only)', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vfio-books-'));
    bin = join(dir, 'books');
    execFileSync('g++', ['-std=c++17', '-Wall', '-Wextra', '-Werror', '-g', '-fsanitize=address,undefined',
      '-fno-sanitize-recover=all', `-I${native}`, driver, '-o', bin], { env, stdio: 'pipe' });
  }, 120_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the commands; returns [records, pins per buffer]. */
  function run(...commands: string[]): [string, string] {
    const r = spawnSync(bin, [], { input: commands.join('\n') + '\n', encoding: 'utf8', env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [records, pins] = r.stdout.split('\n');
    return [records!, pins!];
  }

  function fuzz(seed: number, steps: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(bin, [], { env });
      let stdout = '', stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
      child.stdin.end(`fuzz ${seed} ${steps}\n`);
    });
  }

  const two = ['map 0x1000 0x1000 0', 'map 0x2000 0x2000 1'];
  // [0x1000, 0x3000) as one mapping, over buffer 0.
  const wide = ['map 0x1000 0x2000 0'];

  it('a map pins the buffers it covers; one over what is mapped (a stand-in target) replaces it, releasing its pins', () => {
    expect(run('map 0x1000 0x1000 0 1', 'map 0x5000 0x1000 1')).toEqual(['1000+1000 5000+1000', '1 2 0 0 0 0 0 0']);
    expect(run('map 0x1000 0x1000 0', 'map 0x1000 0x2000 1')).toEqual(['1000+2000', '0 1 0 0 0 0 0 0']);
  });

  for (const rule of ['type1v1', 'type1v2', 'ioas']) {
    it(`${rule}: an unmap of whole mappings removes them and unpins; a zero or wrapping size, or a range that misses, removes nothing`, () => {
      expect(run(`rule ${rule}`, ...two, 'unmapped 0x1000 0x3000')).toEqual(['', '0 0 0 0 0 0 0 0']);
      expect(run(`rule ${rule}`, ...two, 'unmapped 0x2000 0x2000')).toEqual(['1000+1000', '1 0 0 0 0 0 0 0']);
      expect(run(`rule ${rule}`, ...two, 'unmapped 0x1000 0')).toEqual(['1000+1000 2000+2000', '1 1 0 0 0 0 0 0']);
      expect(run(`rule ${rule}`, ...two, 'unmapped 0x1000 0xffffffffffffffff')).toEqual(['1000+1000 2000+2000', '1 1 0 0 0 0 0 0']);
      expect(run(`rule ${rule}`, ...two, 'unmapped 0x4000 0x1000')).toEqual(['1000+1000 2000+2000', '1 1 0 0 0 0 0 0']);
      expect(run(`rule ${rule}`, ...two, 'clear')).toEqual(['', '0 0 0 0 0 0 0 0']);
    });
  }

  it('a mapping that begins below the range: type1 v1 stops there, v2 removes it, IOAS keeps it', () => {
    expect(run('rule type1v1', ...wide, 'map 0x3000 0x1000 1', 'unmapped 0x2000 0x2000')[0]).toBe('1000+2000 3000+1000');
    expect(run('rule type1v2', ...wide, 'map 0x3000 0x1000 1', 'unmapped 0x2000 0x2000')).toEqual(['', '0 0 0 0 0 0 0 0']);
    expect(run('rule ioas', ...wide, 'map 0x3000 0x1000 1', 'unmapped 0x2000 0x2000')[0]).toBe('1000+2000 3000+1000');
  });

  it('a mapping that ends past the range: type1 (v1 and v2) removes it, IOAS stops there', () => {
    expect(run('rule type1v1', ...wide, 'unmapped 0x1000 0x1000')[0]).toBe('');
    expect(run('rule type1v2', ...wide, 'unmapped 0x1000 0x1000')[0]).toBe('');
    expect(run('rule ioas', 'map 0x0 0x1000 1', ...wide, 'unmapped 0x0 0x2000')).toEqual(['1000+2000', '1 0 0 0 0 0 0 0']);
  });

  it('IOAS: iova 0 with length 2^64 - 1 is everything; type1 walks it as a range', () => {
    expect(run('rule ioas', ...two, 'map 0xfffffffffffff000 0x1000 2', 'unmapped 0 0xffffffffffffffff'))
      .toEqual(['', '0 0 0 0 0 0 0 0']);
    expect(run('rule type1v2', ...two, 'map 0xfffffffffffff000 0x1000 2', 'unmapped 0 0xffffffffffffffff'))
      .toEqual(['', '0 0 0 0 0 0 0 0']);
    expect(run('rule type1v2', ...two, 'map 0xfffffffffffff000 0x1000 2', 'unmapped 0x1000 0xffffffffffffe000')[0])
      .toBe('fffffffffffff000+1000');
  });

  it('a failed unmap: IOAS ENOENT removed the mappings before the one sticking out; nothing else removes anything', () => {
    const ENOENT = 2, EINVAL = 22;
    expect(run('rule ioas', ...two, `failed 0x1000 0x2000 ${ENOENT}`)).toEqual(['2000+2000', '0 1 0 0 0 0 0 0']);
    expect(run('rule ioas', ...two, `failed 0x1000 0x2000 ${EINVAL}`)[0]).toBe('1000+1000 2000+2000');
    expect(run('rule ioas', ...two, `failed 0x1000 0 ${ENOENT}`)[0]).toBe('1000+1000 2000+2000');
    expect(run('rule type1v1', ...two, `failed 0x1000 0x2000 ${ENOENT}`)[0]).toBe('1000+1000 2000+2000');
    expect(run('rule type1v2', ...two, `failed 0x1000 0x2000 ${ENOENT}`)[0]).toBe('1000+1000 2000+2000');
  });

  // books_model.h: the books against a model that keeps one record per
  // mapping, over random steps. Seeds 0-5 are each rule, with a kernel that
  // refuses an overlapping map and with a stand-in that maps over one.
  // Concurrent: each seed is its own process, a second or two under the sanitizers.
  for (let seed = 0; seed < 6; seed++) {
    it.concurrent(`model campaign, seed ${seed}: the runs hold what one record per mapping would, after every step`, async () => {
      const r = await fuzz(seed, 5000);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const [steps, merged, splits, most] = r.stdout.trim().split(' ').map(Number);
      expect(steps).toBe(5000);
      // It exercised the runs: records holding many mappings, and unmaps that cut one in two.
      expect(merged).toBeGreaterThan(1000);
      expect(splits).toBeGreaterThan(5);
      expect(most).toBeGreaterThan(4);
    }, 60_000);
  }

  it('IOAS copy: one record per source mapping the range spans, over the same buffers', () => {
    expect(run('rule ioas', ...two, 'use 1', 'rule ioas', 'copy 0 0x1800 0x1000 0x10000'))
      .toEqual(['10000+800 10800+800', '2 2 0 0 0 0 0 0']);
    expect(run('rule ioas', ...two, 'use 1', 'rule ioas', 'copy 0 0x1000 0x3000 0x10000', 'unmapped 0x10000 0x3000'))
      .toEqual(['', '1 1 0 0 0 0 0 0']);
  });
});
