#!/usr/bin/env node
// Host side of the lane's hot-unplug (test/hil/device-removal): the guest
// cannot reach QEMU's monitor, so it asks through a directory shared with it
// over 9p. For every `<name>.request` file that appears there, holding a QEMU
// device id from the allowed list, this sends QMP `device_del` for it, writes
// QEMU's answer to `<name>.reply`, then waits (up to --wait seconds) for
// QEMU's DEVICE_DELETED event for that id and writes `<name>.deleted` when it
// comes: the unplug completed as far as QEMU is concerned (the guest ejected
// the device). Node's standard library only: no socat on the host.
//
//   node unplug-relay.mjs <dir> <qmp socket> <allowed id>[,<id>...] [--wait <s>]
//
// run.sh starts it beside QEMU and stops it (by its pid) when QEMU exits.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';

const [dir, socket, allowedList, ...rest] = process.argv.slice(2);
if (!dir || !socket || !allowedList) {
  console.error('usage: unplug-relay.mjs <dir> <qmp socket> <allowed id>[,<id>...] [--wait <s>]');
  process.exit(2);
}
const allowed = new Set(allowedList.split(','));
const waitS = rest[0] === '--wait' ? Number(rest[1]) : 120;
const log = (msg) => console.error(`unplug-relay: ${msg}`);

/** Writes atomically, so the guest never reads half a file over 9p. */
function put(name, text) {
  const tmp = join(dir, `.${name}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, join(dir, name));
}

/**
 * One QMP session: capabilities, device_del (its answer to onReply at once),
 * then DEVICE_DELETED. Resolves with { reply, deleted } (deleted false when
 * the wait ran out or QEMU went away).
 */
function deviceDel(id, onReply) {
  return new Promise((resolve) => {
    const conn = createConnection(socket);
    let buf = '';
    let reply = null;
    let step = 'greeting';
    const done = (deleted) => {
      clearTimeout(timer);
      conn.destroy();
      resolve({ reply: reply ?? { error: { desc: `no answer from QEMU (${step})` } }, deleted });
    };
    const timer = setTimeout(() => done(false), waitS * 1000);
    const send = (obj) => conn.write(`${JSON.stringify(obj)}\n`);
    conn.on('error', (err) => {
      reply ??= { error: { desc: `QMP socket: ${err.message}` } };
      done(false);
    });
    conn.on('close', () => done(false));
    conn.on('data', (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.event === 'DEVICE_DELETED' && msg.data?.device === id) {
          done(true);
          return;
        }
        if (msg.event) continue;
        if (step === 'greeting' && msg.QMP) {
          step = 'capabilities';
          send({ execute: 'qmp_capabilities' });
        } else if (step === 'capabilities') {
          step = 'device_del';
          send({ execute: 'device_del', arguments: { id } });
        } else if (step === 'device_del') {
          step = 'waiting for DEVICE_DELETED';
          reply = msg;
          onReply(msg);
          if (msg.error) done(false);
        }
      }
    });
  });
}

const seen = new Set();
async function scan() {
  let names = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.request') && !seen.has(n));
  } catch {
    return;
  }
  for (const name of names) {
    seen.add(name);
    const base = name.slice(0, -'.request'.length);
    const id = readFileSync(join(dir, name), 'utf8').trim();
    if (!allowed.has(id)) {
      put(`${base}.reply`, `${JSON.stringify({ error: { desc: `device id '${id}' is not one the lane lets the guest unplug` } })}\n`);
      continue;
    }
    log(`device_del ${id}`);
    const t0 = Date.now();
    // The reply as soon as QEMU gives it: the guest reads it while QEMU waits
    // for the guest to eject the device.
    const { reply, deleted } = await deviceDel(id, (r) => put(`${base}.reply`, `${JSON.stringify(r)}\n`));
    if (!existsSync(join(dir, `${base}.reply`))) put(`${base}.reply`, `${JSON.stringify(reply)}\n`);
    if (deleted) put(`${base}.deleted`, `${JSON.stringify({ ms: Date.now() - t0 })}\n`);
    log(`${id}: ${JSON.stringify(reply)}, ${deleted ? `DEVICE_DELETED after ${Date.now() - t0} ms` : 'no DEVICE_DELETED'}`);
  }
}

let busy = false;
setInterval(() => {
  if (busy) return;
  busy = true;
  scan().finally(() => {
    busy = false;
  });
}, 200);
