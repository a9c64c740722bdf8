// What the kernel's refusals look like from JS: VfioErrors with errno, code,
// op, args and the hint for the cause people actually hit. Without the
// factory (the addon loaded bare) the same fields arrive on a plain Error.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Errno, VfioError } from '../../lib/errors.js';
import { NativeBackendContainer } from '../../lib/native/container.js';
import { NativeBackend } from '../../lib/native/index.js';
import { addon, expectVfioError } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const noVfio = !existsSync('/dev/vfio/vfio');

describe.skipIf(!noVfio)('opening VFIO nodes on a machine without VFIO', () => {
  it('/dev/vfio/vfio: ENOENT with the modprobe hint', () => {
    const e = expectVfioError(() => new NativeBackend().openContainer(), 'ENOENT', 'open /dev/vfio/vfio');
    expect(e.errno).toBe(Errno.ENOENT);
    expect(e.args).toEqual({ path: '/dev/vfio/vfio' });
    expect(e.hint).toMatch(/modprobe vfio-pci/);
    expect(e.message).toMatch(/^open \/dev\/vfio\/vfio failed: ENOENT \(errno 2\)/);
  });

  it('/dev/vfio/<id>: ENOENT naming the group', () => {
    const e = expectVfioError(() => new NativeBackend().openGroup(4242), 'ENOENT', 'open /dev/vfio/4242');
    expect(e.args).toMatchObject({ group: 4242 });
  });
});

describe('errno to code to hint', () => {
  it('ENOTTY from a real ioctl carries the uapi op name and the ioctl hint', () => {
    const c = addon.openContainer('/dev/null');
    try {
      const e = expectVfioError(() => c.setIommu(3), 'ENOTTY', 'VFIO_SET_IOMMU');
      expect(e.errno).toBe(Errno.ENOTTY);
      expect(e.args).toEqual({ type: 3 });
      expect(e.hint).toMatch(/not supported/);
    } finally {
      c.close();
    }
  });

  it('EACCES on open: a node this user may not open', () => {
    // As root, drop to nobody in a child (root opens anything); /etc/shadow is 0640 root.
    const script = `
      const addon = require('node-gyp-build')(${JSON.stringify(root)});
      try { addon.openContainer('/etc/shadow'); console.log('{}'); } catch (e) {
        console.log(JSON.stringify({ errno: e.errno, code: e.code, op: e.op }));
      }`;
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const out = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', ...asNobody });
    expect(JSON.parse(out)).toEqual({ errno: Errno.EACCES, code: 'EACCES', op: 'open /etc/shadow' });
    expect(new VfioError(Errno.EACCES, 'open /etc/shadow').hint).toMatch(/run as root/);
  });

  it('use after close is EBADF with a hint naming the object', () => {
    const c = addon.openContainer('/dev/null');
    c.close();
    expect(expectVfioError(() => c.unmapAll(), 'EBADF', 'VFIO_IOMMU_UNMAP_DMA').hint).toBe('the container is closed');
    // The hot calls (native/space_calls.h) answer "closed" and the seam says it the same way.
    const s = new NativeBackendContainer(addon, addon.openContainer('/dev/null'));
    s.close();
    expect(expectVfioError(() => s.unmap(0n, 4096n), 'EBADF', 'VFIO_IOMMU_UNMAP_DMA').hint).toBe('the container is closed');
  });

  it('the bare addon (no factory registered) throws an Error with the same fields', () => {
    const script = `
      const addon = require('node-gyp-build')(${JSON.stringify(root)});
      try { addon.openContainer('/nonexistent/vfio'); } catch (e) {
        console.log(JSON.stringify({ name: e.constructor.name, errno: e.errno, code: e.code, op: e.op, args: e.args }));
      }`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({
      name: 'Error', errno: Errno.ENOENT, code: 'ENOENT', op: 'open /nonexistent/vfio',
      args: { path: '/nonexistent/vfio' },
    });
  });
});
