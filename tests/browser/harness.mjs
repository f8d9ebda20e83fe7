// What the browser scripts (viewer.mjs, workbench.mjs) share: failures that name their
// step, lines from the Rust test on stdin, Chromium's trust in the development CA (an
// NSS database in a throw-away HOME, via certutil from Debian's libnss3-tools), and
// polling until a page shows what it should.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

export class StepFailure extends Error {}

export function check(cond, message) {
  if (!cond) throw new StepFailure(message);
}

/// Lines the Rust test writes on stdin: `nextLine(ms)` resolves to the next one.
export function stdinLines() {
  const incoming = [];
  const waiters = [];
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const w = waiters.shift();
    if (w) w(line.trim());
    else incoming.push(line.trim());
  });
  return function nextLine(timeoutMs) {
    if (incoming.length) return Promise.resolve(incoming.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new StepFailure(`no answer from the test on stdin within ${timeoutMs} ms`)), timeoutMs);
      waiters.push((line) => { clearTimeout(timer); resolve(line); });
    });
  };
}

/// A HOME under `scratch` whose NSS database trusts the CA in `ca` (a PEM file).
export function trustedHome(scratch, ca) {
  const home = path.join(scratch, 'home');
  const db = path.join(home, '.pki', 'nssdb');
  fs.mkdirSync(db, { recursive: true });
  for (const args of [
    ['-d', `sql:${db}`, '-N', '--empty-password'],
    ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'lookout development CA', '-i', ca],
  ]) {
    const r = spawnSync('certutil', args, { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      throw new StepFailure(`certutil ${args.join(' ')} failed (${r.error?.message || r.stderr}); ` +
        'install it with scripts/test (Debian package libnss3-tools)');
    }
  }
  return home;
}

/// Polls `probe` until `ok(value)` holds; survives navigations in between.
export async function until(what, probe, ok, timeoutMs) {
  const start = Date.now();
  let last;
  for (;;) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch (e) {
      last = `(${e.message.split('\n')[0]})`;
    }
    if (Date.now() - start > timeoutMs) {
      throw new StepFailure(`${what}: still not so after ${timeoutMs} ms; last seen: ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
