// The tarball as a dependency, as a consumer project gets it: `npm install
// <tarball>` into a scratch project, for Linux and for macOS and Windows as
// far as this machine can present them: npm's --os flag for the install (the
// install script then builds nothing), and process.platform for the run (a
// preload, so the loader's platform argument sees darwin / win32 and the
// native backend reports itself unavailable). In each: an ESM consumer, a
// CommonJS one (require(esm) where Node has it, import() everywhere), the
// README example compiled by TypeScript against the shipped types, and
// `npx vfio bench` on the simulated backend.
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { tarball } = inject('packed');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const hasVfio = existsSync('/dev/vfio/vfio');

// Plain JavaScript (no \`using\` before Node 24): close() in finally.
const ESM = `
import {
  openBackend, nativeAvailability, buildPlan, mapBatch, unmapBatch, PROT_RW, SZ_4K, SIM_DEFAULT_GROUP,
} from 'node-vfio';
import { openDeviceUnderTest } from 'node-vfio/testing';
const { backend, reason } = openBackend({ backend: 'sim' });
const c = backend.openContainer();
const g = backend.openGroup(SIM_DEFAULT_GROUP);
const b = backend.allocBuffer({ size: 8192n, backing: '4k' });
let calls;
try {
  g.setContainer(c);
  c.setIommu('type1v2');
  const pages = [0n, 1n].map((i) => ({ vaddr: b.vaddr + i * SZ_4K, iova: 0x100000n + i * SZ_4K, size: SZ_4K, prot: PROT_RW }));
  const plan = buildPlan(pages, 'coalesced', c.info());
  mapBatch(c, plan);
  unmapBatch(c, plan);
  calls = plan.count;
} finally {
  c.close();
  g.close();
  b.close();
}
const dut = await openDeviceUnderTest({ env: {}, log: () => {} });
const testing = { backend: dut.backend.name, leaks: dut.leaks() };
dut.close();
console.log(JSON.stringify({ native: nativeAvailability(), auto: openBackend({ backend: 'auto' }).reason, calls, reason, testing }));
`;

const CJS = `
const viaRequire = process.features.require_module ? require('node-vfio') : null;
const testingViaRequire = process.features.require_module ? require('node-vfio/testing') : null;
Promise.all([import('node-vfio'), import('node-vfio/testing')]).then(([viaImport, testingViaImport]) => {
  const { version } = require('node-vfio/package.json');
  console.log(JSON.stringify({
    version,
    requireModule: Boolean(process.features.require_module),
    same: viaRequire === null || viaRequire.buildPlan === viaImport.buildPlan,
    testingSame: testingViaRequire === null || testingViaRequire.openDeviceUnderTest === testingViaImport.openDeviceUnderTest,
    testing: typeof testingViaImport.openDeviceUnderTest,
    native: viaImport.nativeAvailability(),
  }));
});
`;

// The README's example, as printed there (a consumer pastes it, import from 'node-vfio' included).
function readmeExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```ts\n([^]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('function mapAndMeasure'));
  if (!block) throw new Error('README.md has no ts block with mapAndMeasure');
  return block;
}

const TS_MAIN = `
import { mapAndMeasure } from './map-and-measure.mjs';
import { openDeviceUnderTest, type DeviceUnderTest, type Leak } from 'node-vfio/testing';
const dut: DeviceUnderTest = await openDeviceUnderTest({ env: {}, log: () => {} });
const leaks: Leak[] = dut.leaks();
dut.close();
console.log('RESULT ' + JSON.stringify({ ...mapAndMeasure(), testingLeaks: leaks.length }));
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'es2022', lib: ['es2022', 'esnext.disposable'], module: 'nodenext', moduleResolution: 'nodenext',
    strict: true, outDir: 'out', types: ['node'], typeRoots: [join(root, 'node_modules', '@types')], skipLibCheck: false,
  },
  include: ['*.mts'],
};

describe.each(['linux', 'darwin', 'win32'])('a consumer project on %s', (platform) => {
  const foreign = platform !== 'linux';
  let dir = '';
  let installLog = '';
  let env: NodeJS.ProcessEnv = {};
  const run = (file: string, args: string[] = [], opts: ExecFileSyncOptions = {}) =>
    execFileSync(file, args, { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts }) as string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `vfio-consumer-${platform}-`));
    // No "type": plain .js would be CommonJS, as in most older projects.
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    writeFileSync(join(dir, 'present-platform.mjs'),
      `Object.defineProperty(process, 'platform', { value: ${JSON.stringify(platform)} });\n`);
    installLog = run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts',
      ...(foreign ? [`--os=${platform}`] : [])], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    env = { ...process.env, NODE_OPTIONS: `--import ${join(dir, 'present-platform.mjs')}` };
    writeFileSync(join(dir, 'esm.mjs'), ESM);
    writeFileSync(join(dir, 'cjs.cjs'), CJS);
    writeFileSync(join(dir, 'map-and-measure.mts'), readmeExample());
    writeFileSync(join(dir, 'main.mts'), TS_MAIN);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('installs; the install script builds nothing off Linux and says so', () => {
    if (foreign) {
      expect(installLog).toContain(`VFIO is Linux-only (installing for ${platform}): no native addon, the simulated backend works`);
      expect(existsSync(join(dir, 'node_modules', 'node-vfio', 'build'))).toBe(false);
    } else {
      expect(installLog).not.toMatch(/compiling it failed/);
    }
  });

  it('ESM: the API runs on the sim; the native backend loads on Linux, or says why not', () => {
    const out = JSON.parse(run(process.execPath, ['esm.mjs']));
    expect(out.calls).toBe(1);
    // node-vfio/testing resolves and opens the simulated device under test (no VFIO_TEST_* here).
    expect(out.testing).toEqual({ backend: 'sim', leaks: [] });
    if (foreign) {
      expect(out.native).toEqual({ available: false, reason: `VFIO is Linux-only (this is ${platform})` });
      expect(out.auto).toBe(`sim: native backend unavailable (VFIO is Linux-only (this is ${platform}))`);
    } else {
      // The shipped prebuild loads in the consumer (no build folder there).
      expect(out.native).toEqual({ available: true });
      expect(existsSync(join(dir, 'node_modules', 'node-vfio', 'build'))).toBe(false);
    }
  });

  it('CommonJS: require() (Node with require(esm)) and import() give the same module', () => {
    const out = JSON.parse(run(process.execPath, ['cjs.cjs']));
    expect(out.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(out.same).toBe(true);
    expect(out.testingSame).toBe(true);
    expect(out.testing).toBe('function');
    expect(out.native.available).toBe(!foreign);
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    const promised = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
    if (promised) expect(out.requireModule).toBe(true);
  });

  it('TypeScript: the README example type-checks against the shipped types and runs', () => {
    run(process.execPath, [tsc, '-p', '.'], { env: process.env });
    const out = run(process.execPath, [join('out', 'main.mjs')]);
    const result = JSON.parse(/^RESULT (.*)$/m.exec(out)![1]!);
    expect(result.calls).toBe(1);
    expect(result.testingLeaks).toBe(0);
    expect(result.ns).toBeGreaterThan(0);
    expect(result.simulated).toBe(foreign || !hasVfio);
    if (foreign) expect(out).toContain(`backend: sim: native backend unavailable (VFIO is Linux-only (this is ${platform}))`);
  });

  it('vfio bench (the bin npx runs) works on the simulated backend', () => {
    const args = ['bench', '--backend', 'auto', '--reps', '3', '--warmup', '1', '--json', '--no-progress'];
    // Presented as another OS, the bin itself, not npx: the platform preload would make npm believe it runs there too.
    const report = JSON.parse(foreign
      ? run(join(dir, 'node_modules', '.bin', 'vfio'), args)
      : run('npx', ['--no-install', 'vfio', ...args], { env: process.env }));
    expect(report.backend).toBe(hasVfio && !foreign ? 'native' : 'sim');
    if (foreign) expect(report.backendReason).toContain(`VFIO is Linux-only (this is ${platform})`);
    expect(report.cells.length).toBeGreaterThan(10);
    expect(report.cells.every((c: { simulated?: boolean }) => c.simulated !== false)).toBe(true);
  });
});

// npm may skip a dependency's install script (--ignore-scripts, or install
// scripts not approved under npm's allow-scripts policy): on linux-x64 the
// prebuild inside the package loads all the same, found at run time.
describe('a consumer project on Linux that skips install scripts', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vfio-consumer-noscripts-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
    execFileSync('npm', ['install', tarball, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'],
      { cwd: dir, stdio: 'pipe' });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(process.arch !== 'x64')('loads the shipped prebuild', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e',
      "import { nativeAvailability } from 'node-vfio'; console.log(JSON.stringify(nativeAvailability()));"],
    { cwd: dir, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ available: true });
    expect(existsSync(join(dir, 'node_modules', 'node-vfio', 'build'))).toBe(false);
  });
});
