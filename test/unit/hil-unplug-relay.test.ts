// scripts/hil/unplug-relay.mjs against a stand-in QMP server: a request file
// in the shared directory becomes device_del on the monitor, QEMU's answer
// comes back as .reply and its DEVICE_DELETED event as .deleted; an id the
// lane does not allow never reaches QEMU.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, expect, it } from 'vitest';

let dir: string;
let server: Server | undefined;
let relay: ChildProcess | undefined;
afterEach(() => {
  relay?.kill();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function until(path: string, ms = 5_000): Promise<string> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) {
    if (existsSync(path)) return readFileSync(path, 'utf8');
  }
  throw new Error(`${path} did not appear`);
}

it('relays device_del and reports DEVICE_DELETED; refuses ids it was not given', async () => {
  dir = mkdtempSync(join(tmpdir(), 'unplug-relay-'));
  const sock = join(dir, 'qmp.sock');
  const commands: unknown[] = [];
  server = createServer((c) => {
    c.write('{"QMP": {"version": {}, "capabilities": []}}\r\n');
    c.on('data', (d) => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        const msg = JSON.parse(line) as { execute: string; arguments?: { id: string } };
        commands.push(msg);
        c.write('{"return": {}}\r\n');
        if (msg.execute === 'device_del') {
          setTimeout(() => c.write(`{"event": "DEVICE_DELETED", "data": {"device": "${msg.arguments!.id}", "path": "/x"}}\r\n`), 50);
        }
      }
    });
  });
  await new Promise<void>((r) => server!.listen(sock, r));
  relay = spawn(process.execPath, [resolve('scripts/hil/unplug-relay.mjs'), dir, sock, 'edu_hot', '--wait', '5'], { stdio: 'ignore' });

  writeFileSync(join(dir, 'x.request'), 'rng0\n');
  expect(JSON.parse(await until(join(dir, 'x.reply')))).toMatchObject({ error: { desc: expect.stringMatching(/not one the lane/) } });

  writeFileSync(join(dir, 'a.request'), 'edu_hot\n');
  expect(JSON.parse(await until(join(dir, 'a.reply')))).toEqual({ return: {} });
  expect(JSON.parse(await until(join(dir, 'a.deleted')))).toMatchObject({ ms: expect.any(Number) });
  expect(commands).toEqual([
    { execute: 'qmp_capabilities' },
    { execute: 'device_del', arguments: { id: 'edu_hot' } },
  ]);
});
