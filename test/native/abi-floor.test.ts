// The shipped prebuild must load on the oldest distributions a VFIO host still
// runs. What a binary asks of the system is in its ELF "version needs"
// (.gnu.version_r): the dynamic loader refuses it when libc.so.6 lacks one of
// the GLIBC_x.y versions named there, or libstdc++.so.6 one of its GLIBCXX_x.y.
// The floor (README, Install): glibc 2.17, what the binary built by
// scripts/prebuild.sh on Debian 11 asks for (RHEL 8 has 2.28, Debian 11 and
// Ubuntu 20.04 2.31), and no libstdc++ at all (the C++ runtime is linked in),
// so the system's libstdc++ does not matter. A native change that needs a
// newer glibc function fails here: raise the floor on purpose (2.28 still
// covers every distribution named above) and say so in the README.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const GLIBC_FLOOR = '2.17';
// Libraries every glibc system has; the addon may need nothing else.
const ALLOWED_LIBS = ['libc.so.6', 'libpthread.so.0', 'libm.so.6', 'libdl.so.2', 'ld-linux-x86-64.so.2', 'libgcc_s.so.1'];

const root = fileURLToPath(new URL('../../', import.meta.url));
const prebuildDir = join(root, 'prebuilds', 'linux-x64');

/** library -> version names it requires, from `readelf -V -W` output. */
function versionNeeds(readelf: string): Map<string, string[]> {
  const needs = new Map<string, string[]>();
  const section = readelf.slice(readelf.indexOf(".gnu.version_r'"));
  let lib: string[] | undefined;
  for (const line of section.split('\n')) {
    const file = /File: (\S+)/.exec(line);
    if (file) {
      lib = [];
      needs.set(file[1]!, lib);
      continue;
    }
    const name = /Name: (\S+)/.exec(line);
    if (name && lib) lib.push(name[1]!);
  }
  return needs;
}

function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Every requirement above the floor, as "lib: VERSION" (empty when the binary loads on the floor). */
function aboveFloor(needs: Map<string, string[]>, glibcFloor: string): string[] {
  const bad: string[] = [];
  for (const [lib, versions] of needs) {
    if (!ALLOWED_LIBS.includes(lib)) {
      bad.push(`${lib}: needed at all`);
      continue;
    }
    for (const v of versions) {
      const glibc = /^GLIBC_(\d+(?:\.\d+)*)$/.exec(v);
      if (glibc && compareVersions(glibc[1]!, glibcFloor) > 0) bad.push(`${lib}: ${v}`);
      // libgcc_s's GCC_x.y: its 3.0 / 3.3 / 4.x versions are in every distribution above; newer ones are not checked for.
      const gcc = /^GCC_(\d+(?:\.\d+)*)$/.exec(v);
      if (gcc && compareVersions(gcc[1]!, '4.2.0') > 0) bad.push(`${lib}: ${v}`);
    }
  }
  return bad;
}

// What the prebuild of 0.1.0 needed (readelf -V -W on it): this is the failure the floor exists for.
const OLD_PREBUILD = `Version needs section '.gnu.version_r' contains 4 entries:
  000000: Version: 1  File: libgcc_s.so.1  Cnt: 1
  0x0010:   Name: GCC_3.0  Flags: none  Version: 12
  0x0020: Version: 1  File: ld-linux-x86-64.so.2  Cnt: 1
  0x0030:   Name: GLIBC_2.3  Flags: none  Version: 11
  0x0040: Version: 1  File: libc.so.6  Cnt: 3
  0x0050:   Name: GLIBC_2.17  Flags: none  Version: 8
  0x0060:   Name: GLIBC_2.14  Flags: none  Version: 7
  0x0070:   Name: GLIBC_2.2.5  Flags: none  Version: 3
  0x0080: Version: 1  File: libstdc++.so.6  Cnt: 6
  0x0090:   Name: CXXABI_1.3.8  Flags: none  Version: 10
  0x00b0:   Name: GLIBCXX_3.4.29  Flags: none  Version: 6
  0x00e0:   Name: GLIBCXX_3.4  Flags: none  Version: 2`;

describe('the ABI floor check', () => {
  it('reads version needs per library', () => {
    const needs = versionNeeds(OLD_PREBUILD);
    expect([...needs.keys()]).toEqual(['libgcc_s.so.1', 'ld-linux-x86-64.so.2', 'libc.so.6', 'libstdc++.so.6']);
    expect(needs.get('libc.so.6')).toEqual(['GLIBC_2.17', 'GLIBC_2.14', 'GLIBC_2.2.5']);
  });

  it('rejects the 0.1.0 prebuild (libstdc++ with GLIBCXX_3.4.29) and a glibc above the floor', () => {
    expect(aboveFloor(versionNeeds(OLD_PREBUILD), GLIBC_FLOOR)).toEqual(['libstdc++.so.6: needed at all']);
    const newer = new Map([['libc.so.6', ['GLIBC_2.2.5', 'GLIBC_2.34', 'GLIBC_2.28']]]);
    expect(aboveFloor(newer, '2.28')).toEqual(['libc.so.6: GLIBC_2.34']);
    expect(aboveFloor(newer, '2.17')).toEqual(['libc.so.6: GLIBC_2.34', 'libc.so.6: GLIBC_2.28']);
    expect(aboveFloor(newer, '2.34')).toEqual([]);
    // 2.3 < 2.28 numerically, not as text.
    expect(aboveFloor(new Map([['libc.so.6', ['GLIBC_2.3']]]), '2.28')).toEqual([]);
  });
});

describe.skipIf(!existsSync(prebuildDir))('the shipped prebuild (prebuilds/linux-x64)', () => {
  const file = join(prebuildDir, readdirSync(prebuildDir).find((f) => f.endsWith('.node')) ?? 'missing.node');

  it(`needs glibc <= ${GLIBC_FLOOR} and no libstdc++ (no GLIBCXX / CXXABI versions)`, () => {
    const needs = versionNeeds(execFileSync('readelf', ['-V', '-W', file], { encoding: 'utf8' }));
    expect(needs.get('libc.so.6')?.length).toBeGreaterThan(0);
    expect(aboveFloor(needs, GLIBC_FLOOR)).toEqual([]);
  });

  it('links only the C runtime (NEEDED)', () => {
    const dynamic = execFileSync('readelf', ['-d', '-W', file], { encoding: 'utf8' });
    const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
    expect(needed).toContain('libc.so.6');
    expect(needed.filter((lib) => !ALLOWED_LIBS.includes(lib))).toEqual([]);
  });
});
