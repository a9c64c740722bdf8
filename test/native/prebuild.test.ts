// The shipped prebuild (prebuilds/linux-x64, made by `npm run prebuild`) must
// load on its own: a package directory with no build/ folder, resolved by
// node-gyp-build exactly as an installed copy would be.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const prebuildDir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const nodeGypBuild = createRequire(import.meta.url).resolve('node-gyp-build');

describe.skipIf(!existsSync(prebuildDir))(`prebuild for ${process.platform}-${process.arch} (run npm run prebuild)`, () => {
  it('loads without a build folder and works', () => {
    expect(readdirSync(prebuildDir).filter((f) => f.endsWith('.node')).length).toBe(1);
    const pkg = mkdtempSync(join(tmpdir(), 'vfio-prebuild-'));
    try {
      cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
      cpSync(join(root, 'prebuilds'), join(pkg, 'prebuilds'), { recursive: true });
      expect(existsSync(join(pkg, 'build'))).toBe(false);
      const script = `
        const gyp = require(${JSON.stringify(nodeGypBuild)});
        const dir = ${JSON.stringify(pkg)};
        const addon = gyp(dir);
        const b = addon.allocBuffer(4096n, '4k', 0n, true);
        new Uint8Array(b.bytes())[0] = 42;
        const first = new Uint8Array(b.bytes())[0];
        b.close();
        let code = null;
        try { addon.openContainer('/nonexistent/vfio'); } catch (e) { code = e.code; }
        // NativeSpace maps through spaceCalls (native/space_calls.h): a prebuild older than lib/native would break every map.
        const c = addon.openContainer('/dev/null');
        const s = addon.openOverheadSpace();
        const into = [typeof c.spaceCalls, typeof s.spaceCalls];
        c.close();
        s.close();
        console.log(JSON.stringify({ from: gyp.resolve(dir), first, closed: b.closed, code, into, uapi: addon.uapiVersion,
          exports: Object.keys(addon).sort() }));`;
      const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: pkg, encoding: 'utf8' }));
      expect(out.from.startsWith(join(pkg, 'prebuilds'))).toBe(true);
      expect(out).toMatchObject({ first: 42, closed: true, code: 'ENOENT', into: ['function', 'function'] });
      expect(out.uapi).toMatch(/^\d+\.\d+\.\d+$/);
      expect(out.exports).toEqual(['PLAN_STRIDE', 'allocBuffer', 'armFailNth', 'disarmFailNth', 'failNthResult',
        'irqFloor', 'kernelPinProbe', 'kernelPinRun', 'memlockLimit', 'openContainer', 'openDeviceCdev', 'openGroup',
        'openIommufd', 'openIrqStandIn', 'openOverheadSpace', 'overheadFloor', 'setErrorFactory', 'threadCpus', 'uapiVersion']);
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });

  it('is stripped', () => {
    const file = readdirSync(prebuildDir).find((f) => f.endsWith('.node'))!;
    const out = execFileSync('readelf', ['-S', join(prebuildDir, file)], { encoding: 'utf8' });
    expect(out).not.toMatch(/\.symtab/);
  });
});
