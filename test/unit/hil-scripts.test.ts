// The HIL scripts whose stdout run.sh captures as a path (the kernel, the
// Debian kernel's directory, the initramfs) must print that path and nothing
// else, whatever the tools they call print. On a fresh runner, apt-get's
// update output once became the "bzImage path" and the lane died with no
// console log. Each script runs here against stub apt-get, dpkg, make, cpio
// and busybox that all chatter on stdout, from a cold cache with every build
// dependency "missing", so every install and build branch runs.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const HIL = resolve('scripts/hil');
const kernelEnv = Object.fromEntries(
  readFileSync(join(HIL, 'kernel.env'), 'utf8').split('\n')
    .map((l) => /^(HIL_[A-Z_]+)=(.*)$/.exec(l)).filter((m) => m !== null).map((m) => [m[1], m[2]]),
);

let dir: string;
let stubs: string;
let cache: string;
const calls = () => readFileSync(join(dir, 'calls.log'), 'utf8');

/** A stub command on PATH; `chatty` ones print a line on stdout before doing their part. */
function stub(name: string, body: string, chatty = true): void {
  const path = join(stubs, name);
  const chatter = chatty ? `echo "${name}: chatter on stdout"` : '';
  writeFileSync(path, `#!/usr/bin/env bash\necho "$0 $*" >>"${dir}/calls.log"\n${chatter}\n${body}\n`);
  chmodSync(path, 0o755);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hil-scripts-'));
  stubs = join(dir, 'bin');
  cache = join(dir, 'cache');
  mkdirSync(stubs);
  writeFileSync(join(dir, 'calls.log'), '');
  // Every package reads as missing, and we are root: the install branch runs.
  // (These two are read by the scripts themselves: their answers stay clean.)
  stub('dpkg-query', `printf 'unknown ok not-installed'`, false);
  stub('id', `echo 0`, false);
  stub('apt-get', `[[ $1 == download ]] && touch "$PWD/pkg.deb"; exit 0`);
  stub('dpkg-deb', `mkdir -p "$3/boot" "$3/lib/modules"; touch "$3/boot/vmlinuz-${kernelEnv.HIL_KERNEL_RELEASE}"`);
  // make: defconfig writes a .config, bzImage a kernel, kernelrelease its version.
  stub('make', `
obj=; for a; do [[ $a == O=* ]] && obj=\${a#O=}; done
for a; do case $a in
  x86_64_defconfig) echo CONFIG_FROM_DEFCONFIG=y >"$obj/.config" ;;
  bzImage) mkdir -p "$obj/arch/x86/boot"; echo kernel >"$obj/arch/x86/boot/bzImage" ;;
  kernelrelease) echo 6.12.0-stub ;;
esac; done`);
  stub('busybox', `[[ \${1:-} == --list ]] && printf 'sh\\nls\\n'; exit 0`);
  stub('cpio', `cat >/dev/null`);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(script: string, ...args: string[]) {
  const r = spawnSync('bash', [join(HIL, script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${stubs}:${process.env.PATH}`, VFIO_HIL_CACHE_DIR: cache, HIL_BUSYBOX: join(stubs, 'busybox') },
  });
  expect(r.status, r.stderr).toBe(0);
  return r;
}

/** The whole of stdout is one line, an existing path; the tools' chatter (where a tool's output is not captured) went to stderr. */
function expectOnlyAPath(r: { stdout: string; stderr: string }, chatterOnStderr = true): string {
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  expect(lines, `stdout: ${r.stdout}`).toHaveLength(1);
  const path = lines[0]!;
  expect(existsSync(path)).toBe(true);
  if (chatterOnStderr) expect(r.stderr).toContain('chatter on stdout');
  return path;
}

describe('HIL scripts whose stdout is a path print only that path', () => {
  it('build-kernel.sh: cold cache, build dependencies missing', () => {
    // A fake source tree stands in for the downloaded linux-source (fetch_source is its own test below).
    const srcRoot = join(cache, `src-${kernelEnv.HIL_SRC_VERSION}`);
    const src = join(srcRoot, kernelEnv.HIL_SRC_PKG);
    mkdirSync(join(src, 'scripts/kconfig'), { recursive: true });
    writeFileSync(join(src, 'Makefile'), '');
    writeFileSync(join(srcRoot, '.extracted'), '');
    // merge_config.sh -m -O OBJ BASE FRAGMENT: the fragment's options land in the .config.
    const merge = join(src, 'scripts/kconfig/merge_config.sh');
    writeFileSync(merge, `#!/usr/bin/env bash\necho "merge: chatter on stdout"\ngrep -v '=n$' "$5" | grep '^CONFIG_' >>"$4"\n`);
    chmodSync(merge, 0o755);

    const path = expectOnlyAPath(run('build-kernel.sh'));
    expect(path).toMatch(/\/bzImage$/);
    expect(readFileSync(path, 'utf8')).toBe('kernel\n');
    expect(calls()).toMatch(/apt-get .*install .*flex/);
    expect(calls()).toMatch(/make .*bzImage/);
    // Cached: the second run prints the same path and builds nothing.
    writeFileSync(join(dir, 'calls.log'), '');
    expect(expectOnlyAPath(run('build-kernel.sh'), false)).toBe(path);
    expect(calls()).not.toMatch(/make .*bzImage/);
  });

  it('build-kernel.sh --config: the verified .config', () => {
    const srcRoot = join(cache, `src-${kernelEnv.HIL_SRC_VERSION}`);
    const src = join(srcRoot, kernelEnv.HIL_SRC_PKG);
    mkdirSync(join(src, 'scripts/kconfig'), { recursive: true });
    writeFileSync(join(srcRoot, '.extracted'), '');
    const merge = join(src, 'scripts/kconfig/merge_config.sh');
    writeFileSync(merge, `#!/usr/bin/env bash\necho "merge: chatter"\ngrep -v '=n$' "$5" | grep '^CONFIG_' >>"$4"\n`);
    chmodSync(merge, 0o755);
    expect(expectOnlyAPath(run('build-kernel.sh', '--config'))).toMatch(/\/\.config$/);
  });

  it('fetch-kernel.sh: cold cache', () => {
    const path = expectOnlyAPath(run('fetch-kernel.sh'));
    expect(existsSync(join(path, `boot/vmlinuz-${kernelEnv.HIL_KERNEL_RELEASE}`))).toBe(true);
    expect(calls()).toMatch(/apt-get download/);
  });

  it('build-initramfs.sh --no-modules: cold cache', () => {
    mkdirSync(cache);
    // (busybox --list is captured by the script itself; cpio writes into a file.)
    const path = expectOnlyAPath(run('build-initramfs.sh', '--no-modules'), false);
    expect(path).toMatch(/initramfs-nomod-[0-9a-f]{16}\.cpio$/);
  });

  it('ensure-deps.sh installs what is missing without a word on stdout', () => {
    const r = run('ensure-deps.sh');
    expect(r.stdout).toBe('');
    expect(calls()).toMatch(/apt-get .*install .*qemu-system-x86/);
  });
});

describe('run.sh --iommu: which IOMMU each boot emulates', () => {
  /** run.sh on the built kernel (stub sources, stub make) with a stub QEMU that records its arguments and reports success. */
  function lane(...args: string[]) {
    const srcRoot = join(cache, `src-${kernelEnv.HIL_SRC_VERSION}`);
    const src = join(srcRoot, kernelEnv.HIL_SRC_PKG);
    mkdirSync(join(src, 'scripts/kconfig'), { recursive: true });
    writeFileSync(join(srcRoot, '.extracted'), '');
    const merge = join(src, 'scripts/kconfig/merge_config.sh');
    writeFileSync(merge, `#!/usr/bin/env bash\ngrep -v '=n$' "$5" | grep '^CONFIG_' >>"$4"\n`);
    chmodSync(merge, 0o755);
    stub('qemu-system-x86_64', `[[ $1 == --version ]] && { echo 'QEMU emulator version 7.2.0 (stub)'; exit 0; }
echo "QEMU-ARGS $*" >>"${dir}/qemu.log"
echo HIL-READY; echo HIL-EXIT=0`, false);
    const r = spawnSync('bash', [join(HIL, 'run.sh'), ...args], {
      encoding: 'utf8',
      env: {
        ...process.env, PATH: `${stubs}:${process.env.PATH}`, VFIO_HIL_CACHE_DIR: cache, HIL_BUSYBOX: join(stubs, 'busybox'),
        // No module caches: the stub boots run no test, and filling them took ~5 s a run.
        VFIO_HIL_MODULE_CACHE: '0',
        VFIO_HIL_LOG: join(dir, 'console.log'),
      },
    });
    const boots = existsSync(join(dir, 'qemu.log')) ? readFileSync(join(dir, 'qemu.log'), 'utf8').trim().split('\n') : [];
    return { ...r, boots };
  }

  it('intel (the default): -device intel-iommu and intel_iommu=on, as before', () => {
    const r = lane('--kernel', 'built');
    expect(r.status, r.stderr).toBe(0);
    expect(r.boots).toHaveLength(1);
    expect(r.boots[0]).toMatch(/-device intel-iommu,intremap=on .*intel_iommu=on/);
    expect(r.stderr).toMatch(/summary[^]*\n.* {2}built {9}prepare/);
  });

  it('amd: -device amd-iommu instead, no intel_iommu=on, the boot named built-amd', () => {
    const r = lane('--kernel', 'built', '--iommu', 'amd');
    expect(r.status, r.stderr).toBe(0);
    expect(r.boots).toHaveLength(1);
    expect(r.boots[0]).toMatch(/-device amd-iommu,intremap=on /);
    expect(r.boots[0]).not.toMatch(/intel/);
    expect(r.stderr).toMatch(/ {2}built-amd {5}prepare [^]*exit 0 [^]*, AMD-Vi\)/);
  });

  it('both: each kernel twice, VT-d then AMD-Vi; built-noiommu stays without an IOMMU', () => {
    const r = lane('--iommu=both', '--kernel', 'built');
    expect(r.status, r.stderr).toBe(0);
    expect(r.boots.map((b) => /-device (\S+)-iommu/.exec(b)?.[1])).toEqual(['intel', 'amd']);
    const noiommu = lane('--kernel', 'built-noiommu', '--iommu', 'amd');
    expect(noiommu.status, noiommu.stderr).toBe(0);
    expect(noiommu.boots.at(-1)).not.toMatch(/-iommu/);
  });

  it('refuses another name', () => {
    const r = spawnSync('bash', [join(HIL, 'run.sh'), '--iommu', 'arm'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--iommu must be intel, amd or both, got 'arm'/);
  });
});
