// The control API's contract (#12): docs/api/vm.yaml against a real VM.
//   node contract.mjs            (run by contract.sh, which boots the VMs)
// Environment: GUREUM, API_DOC (docs/api/vm.yaml), WORK (the test's directory), SOURCE_SOCK (the
// booted VM's --api-socket), DEST_SOCK (the --api-socket of the `run --incoming` destination),
// MIGRATE_URI (where that destination listens), GUEST_IMAGE_DIR (for the short-lived VMs this
// script starts itself: one without balloon, display or network card, for the 409s only such a
// VM gives, and a second destination for the migration it cancels).
//
// 1. The document is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator).
// 2. Every reply is checked against the document: its status must be documented for that path
//    and method, its body must match that response's schema (ajv, draft 2020-12), a 204 has
//    no body, an error is {"error": "..."}. Every good request body sent must be valid against
//    the request schema, and every schema-level bad one invalid, so the document cannot accept
//    what the server refuses or the other way round.
// 3. Every (path, method, status) the document lists must have been seen at the end, except
//    those in UNREACHABLE below (each with its reason): the document and the test cannot drift.
// 4. Bad requests of every kind, each followed by a check that the VM did not change.
// 5. The source VM has a disk (index 0, serial d0): its limits read, changed, refused, kept by
//    the migration and changed by gureum ctl on the destination.
// 5b. GET /vm/counters before and after the source guest reads and writes its disk (a command
//    on its console): the disk's counters grow by exactly what dd moved, none goes down, also
//    across a guest reboot; gureum ctl counters (and --json) on the destination.
// 6. The connection limit: beside 8 idle connections every operation gets 503, one of the 8
//    is still served, and the API answers again once they close.
// One line per check; a summary; exit status 1 on any failure.
import net from 'node:net';
import { JSON_TYPE, METHODS, bodyConforms, escape, loadDocument, reporter, request, sleep } from './contract_common.mjs';
import { spawn, execFile } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, mkdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`contract.mjs: ${name} is not set (run it through contract.sh)`);
    process.exit(2);
  }
  return value;
};
const GUREUM = env('GUREUM');
const WORK = env('WORK');
const SOURCE = env('SOURCE_SOCK');
const DEST = env('DEST_SOCK');
const MIGRATE_URI = env('MIGRATE_URI');
const IMAGES = env('GUEST_IMAGE_DIR');
const DOC_FILE = env('API_DOC');
const CONSOLE_IN = env('SOURCE_CONSOLE_IN'); // a FIFO: the source guest's shell reads it
const CONSOLE_OUT = env('SOURCE_CONSOLE');
const PREFIX = '/api/v1';

// Documented statuses no request of this test can bring about, with the reason.
const UNREACHABLE = [
  { path: '*', method: '*', status: '500',
    reason: 'only when the VMM runs out of memory forming its reply' },
  { path: '/vm/net', method: 'GET', status: '409',
    reason: 'only between two boots of the VM (a guest reboot), a few milliseconds' },
  { path: '/vm/disks', method: 'GET', status: '409',
    reason: 'only between two boots of the VM (a guest reboot), a few milliseconds' },
  { path: '/vm/counters', method: 'GET', status: '409',
    reason: 'only between two boots of the VM (a guest reboot), a few milliseconds the test polls for but may miss' },
];

// Checks that fail because of a known bug in the server, the document being right: each is
// reported as "xfail" and does not fail the run; one that passes ("xpass") fails it, so that
// the entry is removed once the bug is fixed.
const KNOWN_SERVER_BUGS = [];

const { ok, fail, check, counts, summary } = reporter(KNOWN_SERVER_BUGS);

let MAC0 = '52:54:00:12:34:56'; // card 0's MAC, as the VM started

// ---- the document ---------------------------------------------------------------------------

const { doc, ajv, validatorFor, triples, operations, templateOf, documentedResponse, requestSchemaPointer } =
  await loadDocument(DOC_FILE, 'https://gureum.invalid/api/vm.yaml', { check });

// ---- HTTP on the unix socket ------------------------------------------------------------------


// A request whose reply is checked against the document; returns the reply.
async function call(label, sock, method, path, { expect, absolute, ...options } = {}) {
  let res;
  try {
    res = await request(sock, method, absolute ? path : PREFIX + path, options);
  } catch (e) {
    fail(label, `${method} ${path}: ${e.message}`);
    return null;
  }
  conform(label, method, absolute ? null : path, res, expect);
  if (absolute) return res;
  // A good body sent must be valid for the document; a schema-level bad one invalid.
  const template = templateOf(path.split('?')[0]);
  const reqPointer = template && requestSchemaPointer(template, method);
  if (reqPointer && options.body !== undefined && typeof options.body === 'object') {
    const valid = validatorFor(reqPointer)(options.body);
    if (res.status >= 200 && res.status < 300 && !valid)
      fail(`${label} (request schema)`, `the server took ${JSON.stringify(options.body)} but the document refuses it: ${ajv.errorsText(validatorFor(reqPointer).errors)}`);
    if (options.schemaBad && valid)
      fail(`${label} (request schema)`, `the document accepts ${JSON.stringify(options.body)}, which the server refuses with ${res.status}`);
  }
  return res;
}

// The reply is one the document lists for the path and method, with that body.
function conform(label, method, path, res, expect) {
  const what = `${method} ${path ?? '(outside the API)'} -> ${res.status}`;
  if (expect !== undefined && res.status !== expect) {
    fail(label, `${what}, expected ${expect} (${res.text.slice(0, 200)})`);
    return false;
  }
  const template = path === null ? null : templateOf(path.split('?')[0]);
  let response, schemaPointer;
  const outside = !template || !doc.paths[template][method.toLowerCase()];
  if (outside && (res.status === 404 || res.status === 413)) {
    // No operation: the shared response (a body over 64 KiB is refused before routing).
    const name = res.status === 404 ? 'NotFound' : 'TooLarge';
    response = doc.components.responses[name];
    schemaPointer = `/components/responses/${name}/content/${escape('application/json')}/schema`;
  } else if (res.status === 405) {
    response = doc.components.responses.MethodNotAllowed;
    schemaPointer = `/components/responses/MethodNotAllowed/content/${escape('application/json')}/schema`;
    const documented = Object.keys(doc.paths[template] ?? {}).filter((m) => METHODS.includes(m))
      .map((m) => m.toUpperCase()).sort();
    const allow = (res.headers.allow ?? '').split(',').map((s) => s.trim()).filter(Boolean).sort();
    if (!template || doc.paths[template][method.toLowerCase()]) {
      fail(label, `${what}: 405 for a method the document lists for the path`);
      return false;
    }
    if (allow.join() !== documented.join()) {
      fail(label, `${what}: Allow "${res.headers.allow}", the document has ${documented.join(', ')}`);
      return false;
    }
  } else {
    if (!template || !doc.paths[template][method.toLowerCase()]) {
      fail(label, `${what}: no such operation in the document`);
      return false;
    }
    ({ response, schemaPointer } = documentedResponse(template, method, String(res.status)));
    if (!response) {
      fail(label, `${what}: status not documented for ${method} ${template} (${res.text.slice(0, 200)})`);
      return false;
    }
    const key = `${method} ${template} ${res.status}`;
    triples.set(key, triples.get(key) + 1);
  }
  if (!bodyConforms({ fail, validatorFor, ajv }, label, what, response, schemaPointer, res)) return false;
  ok(`${label}: ${what}${res.status >= 400 && res.json?.error ? ` (${res.json.error.slice(0, 90)})` : ''}`);
  return true;
}

// ---- the VM's state, before and after a bad request ---------------------------------------------

async function stateOf(sock) {
  const vm = await request(sock, 'GET', `${PREFIX}/vm`);
  const balloon = await request(sock, 'GET', `${PREFIX}/vm/balloon`);
  const netInfo = await request(sock, 'GET', `${PREFIX}/vm/net/0`);
  const migration = await request(sock, 'GET', `${PREFIX}/vm/migration`);
  const disk = await request(sock, 'GET', `${PREFIX}/vm/disks/0/limits`);
  return JSON.stringify({
    disk: disk.json,
    vm: vm.json,
    balloon: balloon.json && { target: balloon.json.target },
    net: netInfo.json && { mac: netInfo.json.mac, assigned: netInfo.json.assigned_mac, link: netInfo.json.link_up },
    migration: migration.json && { state: migration.json.state, uri: migration.json.uri },
  });
}

async function bad(label, sock, method, path, options) {
  const before = await stateOf(sock);
  await call(`bad: ${label}`, sock, method, path, options);
  const after = await stateOf(sock);
  check(`bad: ${label}: the VM did not change`, before === after, `before ${before}, after ${after}`);
}

async function waitState(sock, state, seconds = 60) {
  for (let i = 0; i < seconds * 10; i++) {
    const res = await request(sock, 'GET', `${PREFIX}/vm`).catch(() => null);
    if (res?.json?.state === state) return true;
    await sleep(100);
  }
  return false;
}

async function waitGone(file, seconds = 30) {
  for (let i = 0; i < seconds * 10 && existsSync(file); i++) await sleep(100);
  return !existsSync(file);
}

async function waitSocket(file, seconds = 60) {
  for (let i = 0; i < seconds * 10; i++) {
    if (existsSync(file)) {
      const res = await request(file, 'GET', `${PREFIX}/vm`).catch(() => null);
      if (res) return true;
    }
    await sleep(100);
  }
  return false;
}

// A gureum process of this script's own; resolves with its exit status.
const children = [];
function startVm(name, args) {
  const log = `${WORK}/${name}.log`;
  const child = spawn('sh', ['-c', `exec "$0" "$@" >"${log}" 2>&1 </dev/null`, GUREUM, ...args]);
  children.push(child);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  return { child, exited, log };
}

function ctl(args) {
  return new Promise((resolve) => execFile(GUREUM, ['ctl', ...args], { timeout: 30000 },
    (error, stdout, stderr) => resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr })));
}

const withTimeout = (promise, ms, what) => Promise.race([promise,
  sleep(ms).then(() => { throw new Error(`${what}: not within ${ms / 1000} s`); })]);

// ---- 1. the booted VM: every operation with a good request ---------------------------------------

// Runs `command` in the source guest's shell and waits for it to end: the marker is computed by
// the shell, so the command line's own echo on the console does not match it.
async function guestRun(command, seconds = 120) {
  const marker = `done-${Date.now()}`;
  const seen = () => readFileSync(CONSOLE_OUT, 'utf8').includes(`${marker}-42`);
  appendFileSync(CONSOLE_IN, `${command}; echo ${marker}-$((40+2))\n`);
  for (let i = 0; i < seconds * 10 && !seen(); i++) await sleep(100);
  return seen();
}

// Every number in `after` is at least its value in `before` (same shape): counters only grow.
function grewOrStayed(before, after, where = '') {
  if (typeof before === 'number') return typeof after === 'number' && after >= before ? [] : [where];
  if (before === null || typeof before !== 'object') return [];
  return Object.keys(before).flatMap((k) => grewOrStayed(before[k], after?.[k], `${where}/${k}`));
}

// GET /vm/counters before and after the guest reads 1 MiB from its disk with O_DIRECT (no page
// cache, no read-ahead: exactly what dd asked) and writes 256 KiB: the disk's counters grow by
// that, every other only grows, and the vCPU ran instructions meanwhile.
async function counters(status) {
  const before = await call('counters', SOURCE, 'GET', '/vm/counters', { expect: 200 });
  const c = before?.json;
  check('counters: one entry per vCPU and per device of GET /vm, boot 1', c?.boots === 1 &&
    c.vcpus.length === status?.json?.vcpus && c.devices.map((d) => d.name).join() === status.json.devices.join(),
    before?.text);
  const disk = (r) => r?.json?.devices.find((d) => d.blk)?.blk;
  check('counters: the disk was read at boot (its partition table)', disk(before)?.read_requests > 0 &&
    disk(before).read_bytes >= 512, JSON.stringify(disk(before)));
  check('counters: only the disk has blk, only the card net', c?.devices.every((d) =>
    !!d.blk === d.name.startsWith('virtio-blk') && !!d.net === d.name.startsWith('virtio-net')), before?.text);
  const ran = await guestRun('dd if=/dev/vda of=/dev/null bs=65536 count=16 skip=32 iflag=direct; ' +
    'dd if=/dev/zero of=/dev/vda bs=65536 count=4 seek=64 oflag=direct conv=fsync');
  check('counters: the guest read and wrote its disk (dd)', ran, 'no end marker on the console');
  const after = await call('counters after the guest\'s disk I/O', SOURCE, 'GET', '/vm/counters', { expect: 200 });
  const [b, a] = [disk(before), disk(after)];
  check('counters: read_bytes grew by the 1 MiB read', a?.read_bytes - b?.read_bytes === 1 << 20 &&
    a.read_requests > b.read_requests, `${JSON.stringify(b)} -> ${JSON.stringify(a)}`);
  check('counters: write_bytes grew by the 256 KiB written, with a flush', a?.write_bytes - b?.write_bytes === 256 << 10 &&
    a.write_requests > b.write_requests && a.flush_requests > b.flush_requests && a.errors === b.errors,
    `${JSON.stringify(b)} -> ${JSON.stringify(a)}`);
  const shrunk = grewOrStayed(c, after?.json);
  check('counters: none went down', after?.json && shrunk.length === 0, shrunk.join(', '));
  const insns = (r) => r?.json?.vcpus[0].accel.instructions;
  check('counters: vCPU 0 ran instructions meanwhile (the software CPU\'s count)', insns(after) > insns(before),
    `${insns(before)} -> ${insns(after)}`);
  const blkDev = (r) => r?.json?.devices.find((d) => d.blk);
  check('counters: the disk took kicks and raised interrupts for it', blkDev(after)?.kicks > blkDev(before)?.kicks &&
    blkDev(after).interrupts > blkDev(before).interrupts, `${JSON.stringify(blkDev(before))} -> ${JSON.stringify(blkDev(after))}`);
  await countersAcrossReboot(after?.json);
}

// A guest reboot makes a new VM in the VMM: the counters go on from those of the first (boots 2,
// none lower), and the new boot's reads of the disk add to them. Between the two VMs the API
// answers 409, which this catches when its polling falls in that short window.
async function countersAcrossReboot(before) {
  const prompts = () => readFileSync(CONSOLE_OUT, 'utf8').split('gureum-guest# ').length - 1;
  const shown = prompts();
  appendFileSync(CONSOLE_IN, 'reboot -f\n');
  let between = null;
  for (let i = 0; i < 20000 && !between; i++) {
    const r = await request(SOURCE, 'GET', `${PREFIX}/vm/counters`).catch(() => null);
    if (r?.status === 409) between = r;
    else if (r?.json?.boots === 2) break;
  }
  if (between) conform('counters between two boots: refused', 'GET', '/vm/counters', between, 409);
  else console.log('info counters: the polling did not fall between the two boots (no 409 seen)');
  for (let i = 0; i < 2400 && prompts() <= shown; i++) await sleep(100);
  check('counters: the guest rebooted to its shell', prompts() > shown, 'no new prompt within 240 s');
  const next = await call('counters after a guest reboot', SOURCE, 'GET', '/vm/counters', { expect: 200 });
  check('counters: boots 2 after the reboot', next?.json?.boots === 2, next?.text);
  const shrunk = grewOrStayed(before, next?.json).filter((w) => w !== '/boots');
  check('counters: none went down across the reboot', next?.json && shrunk.length === 0, shrunk.join(', '));
  const reads = (c) => c?.devices.find((d) => d.blk)?.blk.read_requests;
  check('counters: the new boot\'s reads of the disk add to the old ones', reads(next?.json) > reads(before),
    `${reads(before)} -> ${reads(next?.json)}`);
}

async function goodRequests() {
  const status = await call('status', SOURCE, 'GET', '/vm', { expect: 200 });
  check('status: running, named, on emu, with a balloon and a network card',
    status?.json?.state === 'running' && status.json.name === 'contract' && status.json.accel === 'emu' &&
    status.json.memory === 256 * 1024 * 1024 && status.json.devices.length >= 2, status?.text);
  await counters(status);

  // vCPU hotplug: the source has --cpus 1,max=2. The guest takes the added vCPU's event
  // (its ACPI scan writes it back), after which nothing is "inserting".
  let v = await call('vcpus', SOURCE, 'GET', '/vm/cpus', { expect: 200 });
  check('vcpus: 1 present, at most 2', v?.json?.present === 1 && v.json.max === 2, v?.text);
  await call('vcpus 3 beyond max=2: refused', SOURCE, 'PUT', '/vm/cpus', { body: { count: 3 }, expect: 409 });
  await call('vcpus 2', SOURCE, 'PUT', '/vm/cpus', { body: { count: 2 }, expect: 204 });
  for (let i = 0; i < 120; i++) {
    v = await call('vcpus after adding one', SOURCE, 'GET', '/vm/cpus', { expect: 200 });
    if (v?.json?.inserting === 0) break;
    await sleep(500);
  }
  check('vcpus: 2 present, the guest took the new one', v?.json?.present === 2 && v.json.inserting === 0 &&
    v.json.removing === 0, v?.text);
  const s2 = await call('status with 2 vCPUs', SOURCE, 'GET', '/vm', { expect: 200 });
  check('status counts 2 vCPUs', s2?.json?.vcpus === 2, s2?.text);

  await memoryHotplug();
  await call('balloon info', SOURCE, 'GET', '/vm/balloon', { expect: 200 });
  await call('balloon 16M (string)', SOURCE, 'PUT', '/vm/balloon', { body: { size: '16M' }, expect: 204 });
  let b = await call('balloon info after 16M', SOURCE, 'GET', '/vm/balloon', { expect: 200 });
  check('balloon target is 16 MiB', b?.json?.target === 16 << 20, b?.text);
  await call('balloon 8388608 (integer), charset in Content-Type', SOURCE, 'PUT', '/vm/balloon',
    { body: { size: 8 << 20 }, type: 'application/json; charset=utf-8', expect: 204 });
  await call('balloon 4M, the body chunked', SOURCE, 'PUT', '/vm/balloon',
    { body: { size: '4M' }, headers: { chunked: true }, expect: 204 });
  b = await call('balloon info after 4 MiB', SOURCE, 'GET', '/vm/balloon', { expect: 200 });
  check('balloon target is 4 MiB', b?.json?.target === 4 << 20, b?.text);
  await call('balloon 8388608 again', SOURCE, 'PUT', '/vm/balloon', { body: { size: 8 << 20 }, expect: 204 });
  b = await call('balloon info after 8 MiB', SOURCE, 'GET', '/vm/balloon', { expect: 200 });
  check('balloon target is 8 MiB', b?.json?.target === 8 << 20, b?.text);
  await call('balloon 0', SOURCE, 'PUT', '/vm/balloon', { body: { size: 0 }, expect: 204 });
  await call('balloon as large as the RAM: refused', SOURCE, 'PUT', '/vm/balloon', { body: { size: '256M' }, expect: 409 });

  const n = await call('net card 0', SOURCE, 'GET', '/vm/net/0', { expect: 200 });
  const mac = n?.json?.mac;
  MAC0 = mac;
  await call('net card 0 link down', SOURCE, 'PUT', '/vm/net/0/link', { body: { up: false }, expect: 204 });
  let n2 = await call('net card 0 after link down', SOURCE, 'GET', '/vm/net/0', { expect: 200 });
  check('link is down', n2?.json?.link_up === false, n2?.text);
  await call('net card 0 link up', SOURCE, 'PUT', '/vm/net/0/link', { body: { up: true }, expect: 204 });
  n2 = await call('net card 0 after link up', SOURCE, 'GET', '/vm/net/0', { expect: 200 });
  check('link is up', n2?.json?.link_up === true, n2?.text);
  await call('net card 0 MAC', SOURCE, 'PUT', '/vm/net/0/mac', { body: { mac: '52:54:00:AB:cd:02' }, expect: 204 });
  n2 = await call('net card 0 after MAC', SOURCE, 'GET', '/vm/net/0', { expect: 200 });
  check('assigned MAC is the new one', n2?.json?.assigned_mac === '52:54:00:ab:cd:02', n2?.text);
  if (mac)
    await call('net card 0 MAC back', SOURCE, 'PUT', '/vm/net/0/mac', { body: { mac }, expect: 204 });
  await call('net card 1 (the VM has one): refused', SOURCE, 'GET', '/vm/net/1', { expect: 409 });
  await call('net card 1 link: refused', SOURCE, 'PUT', '/vm/net/1/link', { body: { up: true }, expect: 409 });
  await call('net card 255 MAC: refused', SOURCE, 'PUT', '/vm/net/255/mac', { body: { mac: '52:54:00:00:00:09' }, expect: 409 });
  for (const [p, m, body] of [['/vm/net/256', 'GET'], ['/vm/net/01', 'GET'], ['/vm/net/x/link', 'PUT', { up: true }],
    ['/vm/net/-1/mac', 'PUT', { mac: '52:54:00:00:00:09' }]])
    await bad(`card not 0-255: ${m} ${p}`, SOURCE, m, p, { body, expect: 404 });

  const shot = await call('screendump', SOURCE, 'POST', '/vm/screendump', { body: { file: `${WORK}/shot.png` }, expect: 200 });
  check('screendump wrote a PNG of the reported size', existsSync(`${WORK}/shot.png`) &&
    readFileSync(`${WORK}/shot.png`).subarray(1, 4).toString() === 'PNG' && shot?.json?.width > 0, shot?.text);
  await call('screendump into a missing directory: refused', SOURCE, 'POST', '/vm/screendump',
    { body: { file: `${WORK}/no/such/dir/shot.png` }, expect: 409 });

  await call('pause', SOURCE, 'POST', '/vm/pause', { expect: 204 });
  check('state paused', await waitState(SOURCE, 'paused', 5), 'GET /vm does not say paused');
  await call('pause when paused: refused', SOURCE, 'POST', '/vm/pause', { expect: 409 });
  await call('resume', SOURCE, 'POST', '/vm/resume', { expect: 204 });
  check('state running', await waitState(SOURCE, 'running', 5), 'GET /vm does not say running');
  await call('resume when running: refused', SOURCE, 'POST', '/vm/resume', { expect: 409 });

  mkdirSync(`${WORK}/snap`);
  const snap = await call('snapshot (resumes)', SOURCE, 'POST', '/vm/snapshot',
    { body: { dir: `${WORK}/snap`, resume: true, disk_snapshot: false }, expect: 200, timeout: 300000 });
  check('snapshot wrote the RAM and resumed', snap?.json?.paused === false && snap.json.memory_bytes > 0 &&
    existsSync(`${WORK}/snap`), snap?.text);
  check('state running after the snapshot', await waitState(SOURCE, 'running', 5), 'not running');
  mkdirSync(`${WORK}/snap2`);
  const snap2 = await call('snapshot, stay paused', SOURCE, 'POST', '/vm/snapshot',
    { body: { dir: `${WORK}/snap2`, resume: false }, expect: 200, timeout: 300000 });
  check('snapshot left the VM paused', snap2?.json?.paused === true && await waitState(SOURCE, 'paused', 5), snap2?.text);
  await call('resume after the snapshot', SOURCE, 'POST', '/vm/resume', { expect: 204 });
  await call('snapshot into a file that is not a directory: refused', SOURCE, 'POST', '/vm/snapshot',
    { body: { dir: `${WORK}/shot.png` }, expect: 409, timeout: 300000 });
  check('state running after the refused snapshot', await waitState(SOURCE, 'running', 5), 'not running');

  const m = await call('migration status before any', SOURCE, 'GET', '/vm/migration', { expect: 200 });
  check('migration state none', m?.json?.state === 'none' && m.json.uri === '', m?.text);
  await call('cancel without a migration: refused', SOURCE, 'DELETE', '/vm/migration', { expect: 409 });
  await call('reconnect without a post-copy: refused', SOURCE, 'POST', '/vm/migration/reconnect', { expect: 409 });
  await call('migrate to nowhere: refused', SOURCE, 'POST', '/vm/migration',
    { body: { uri: `unix:${WORK}/nobody-listens.sock` }, expect: 409, timeout: 60000 });
  const m2 = await call('migration status after the failure', SOURCE, 'GET', '/vm/migration', { expect: 200 });
  check('migration state failed, with the reason', m2?.json?.state === 'failed' && m2.json.error.length > 0, m2?.text);

  await diskLimits();
  await netLimits();
  await diskHotplug();
  await nicHotplug();
}

// Network card hotplug on the source VM (which has one card): a second card on the user
// network plugged in (the guest gets eth1 with the reported MAC), refused when it cannot be,
// asked to go and gone once the guest ejected it.
async function nicHotplug() {
  const list = async (label) => (await call(label, SOURCE, 'GET', '/vm/net', { expect: 200 }))?.json?.nics;
  const first = await list('cards at the start');
  check('cards: one, attached', first?.length === 1 && first[0].state === 'attached', JSON.stringify(first));
  const added = await call('nic-add', SOURCE, 'POST', '/vm/net', { body: { net: 'user,net=10.0.9.0/24' }, expect: 200 });
  const nic = added?.json?.nic;
  check('nic-add: card 1 on the user network in a free slot', nic?.index === 1 && nic.backend === 'user' &&
    nic.slot !== first?.[0]?.slot, added?.text);
  const seen = await guestRun('for i in $(seq 100); do test -e /sys/class/net/eth1 && break; sleep 0.1; done; ' +
    'echo eth1-mac-$(cat /sys/class/net/eth1/address)-$((1+1))', 30);
  check('nic-add: the guest has eth1 with the MAC the VMM reports', seen &&
    readFileSync(CONSOLE_OUT, 'utf8').includes(`eth1-mac-${nic?.mac}-2`), `no eth1-mac-${nic?.mac}-2 on the console`);
  await bad('nic-add: an unknown property', SOURCE, 'POST', '/vm/net', { body: { net: 'user,speed=fast' }, expect: 409 });
  await bad('nic-add: slot= given', SOURCE, 'POST', '/vm/net', { body: { net: 'user,slot=20' }, expect: 409 });
  await bad('nic-add: a bad port forward', SOURCE, 'POST', '/vm/net', { body: { net: 'user,hostfwd=tcp::99999-:22' }, expect: 409 });
  await bad('nic-add: a tap name too long', SOURCE, 'POST', '/vm/net', { body: { net: 'tap=abcdefghijklmnopq' }, expect: 409 });
  await bad('nic-add: empty', SOURCE, 'POST', '/vm/net', { body: { net: '' }, expect: 400 });
  await bad('nic-add: not a string', SOURCE, 'POST', '/vm/net', { body: { net: ['user'] }, expect: 400 });
  await bad('nic-add: unknown field', SOURCE, 'POST', '/vm/net', { body: { net: 'user', slot: 4 }, expect: 400 });
  await bad('nic-add: text/plain', SOURCE, 'POST', '/vm/net', { body: '{"net": "user"}', type: 'text/plain', expect: 415 });
  await bad('nic-remove: no card 6', SOURCE, 'DELETE', '/vm/net/6', { expect: 409 });
  await bad('nic-remove: not a card index', SOURCE, 'DELETE', '/vm/net/01', { expect: 404 });
  const removing = await call('nic-remove 1', SOURCE, 'DELETE', '/vm/net/1', { expect: 200 });
  check('nic-remove: the guest is asked', removing?.json?.nic?.state === 'removing', removing?.text);
  let left = null;
  for (let i = 0; i < 100 && left?.length !== 1; i++) {
    await sleep(200);
    left = (await request(SOURCE, 'GET', `${PREFIX}/vm/net`)).json?.nics;
  }
  check('nic-remove: gone once the guest ejected it', left?.length === 1 && left[0].mac === first?.[0]?.mac,
    JSON.stringify(left));
}

// virtio-mem on the source VM (--memory 256M --memory-hotplug 256M): 128 MiB more asked for
// and plugged by the guest, refusals outside the range; the migration carries it (checked on
// the destination).
async function memoryHotplug() {
  const m = await call('memory at the start', SOURCE, 'GET', '/vm/memory', { expect: 200 });
  check('memory: 256 MiB at boot, 256 MiB more possible, none plugged', m?.json?.boot === 256 << 20 &&
    m.json.hotplug_max === 256 << 20 && m.json.plugged === 0 && m.json.block_size > 0, m?.text);
  await call('memory 384M', SOURCE, 'PUT', '/vm/memory', { body: { size: '384M' }, expect: 204 });
  let plugged = 0;
  for (let i = 0; i < 150 && plugged !== 128 << 20; i++) {
    await sleep(200);
    plugged = (await request(SOURCE, 'GET', `${PREFIX}/vm/memory`)).json?.plugged;
  }
  check('memory: the guest plugged 128 MiB', plugged === 128 << 20, `plugged ${plugged}`);
  await bad('memory: below the boot memory', SOURCE, 'PUT', '/vm/memory', { body: { size: '128M' }, expect: 409 });
  await bad('memory: above boot + hotplug', SOURCE, 'PUT', '/vm/memory', { body: { size: '1G' }, expect: 409 });
  await bad('memory: not a whole block', SOURCE, 'PUT', '/vm/memory', { body: { size: (256 << 20) + 4096 }, expect: 409 });
  await bad('memory: not a size', SOURCE, 'PUT', '/vm/memory', { body: { size: 'lots' }, expect: 400 });
  await bad('memory: unknown field', SOURCE, 'PUT', '/vm/memory', { body: { size: '384M', now: true }, expect: 400 });
  await bad('memory: text/plain', SOURCE, 'PUT', '/vm/memory', { body: '{"size": "384M"}', type: 'text/plain', expect: 415 });
}

// Disk hotplug on the source VM: a second disk plugged in (the guest finds vdb with its serial),
// listed, refused when it cannot be, asked to go and gone once the guest ejected it. The source
// VM is as before afterwards (one disk), ready for its migration.
async function diskHotplug() {
  const list = async (label) => (await call(label, SOURCE, 'GET', '/vm/disks', { expect: 200 }))?.json?.disks;
  const first = await list('disks at the start');
  check('disks: one, d0, attached', first?.length === 1 && first[0].serial === 'd0' &&
    first[0].state === 'attached' && first[0].slot >= 1, JSON.stringify(first));
  const img = `${WORK}/hot.img`;
  writeFileSync(img, '');
  truncateSync(img, 8 << 20);
  const added = await call('disk-add', SOURCE, 'POST', '/vm/disks',
    { body: { path: img, serial: 'hot', format: 'raw', cache: 'writeback', readonly: false }, expect: 200 });
  const disk = added?.json?.disk;
  check('disk-add: disk 1 in a free slot, inserting or attached', disk?.index === 1 && disk.path === img &&
    disk.slot !== first?.[0]?.slot && ['inserting', 'attached'].includes(disk.state), added?.text);
  const seen = await guestRun('for i in $(seq 100); do test -e /sys/block/vdb && break; sleep 0.1; done; ' +
    'echo vdb-serial-$(cat /sys/block/vdb/serial)-$((1+1))', 30);
  check('disk-add: the guest has vdb with serial hot', seen &&
    readFileSync(CONSOLE_OUT, 'utf8').includes('vdb-serial-hot-2'), 'no vdb-serial-hot-2 on the console');
  const both = await list('disks after disk-add');
  check('disks: two, the new one attached once the guest took it', both?.length === 2 &&
    both[1].state === 'attached' && both[1].serial === 'hot', JSON.stringify(both));
  await bad('disk-add: no such image', SOURCE, 'POST', '/vm/disks', { body: { path: `${WORK}/none.img` }, expect: 409 });
  await bad('disk-add: relative path', SOURCE, 'POST', '/vm/disks', { body: { path: 'hot.img' }, expect: 400 });
  await bad('disk-add: a comma in the path', SOURCE, 'POST', '/vm/disks', { body: { path: `${img},slot=9` }, expect: 400 });
  await bad('disk-add: unknown format', SOURCE, 'POST', '/vm/disks', { body: { path: img, format: 'vmdk' }, expect: 400 });
  await bad('disk-add: serial too long', SOURCE, 'POST', '/vm/disks', { body: { path: img, serial: 'x'.repeat(21) }, expect: 400 });
  await bad('disk-add: readonly as text', SOURCE, 'POST', '/vm/disks', { body: { path: img, readonly: 'yes' }, expect: 400 });
  await bad('disk-add: unknown field', SOURCE, 'POST', '/vm/disks', { body: { path: img, slot: 3 }, expect: 400 });
  await bad('disk-remove: no disk 5', SOURCE, 'DELETE', '/vm/disks/5', { expect: 409 });
  await bad('disk-remove: no disk nope', SOURCE, 'DELETE', '/vm/disks/nope', { expect: 409 });
  await bad('disk-remove: not a disk name', SOURCE, 'DELETE', '/vm/disks/a%20b', { expect: 404 });
  await bad('disk-remove: takes no body', SOURCE, 'DELETE', '/vm/disks/hot', { body: { now: true }, expect: 400 });
  const removing = await call('disk-remove hot', SOURCE, 'DELETE', '/vm/disks/hot', { expect: 200 });
  check('disk-remove: the guest is asked', removing?.json?.disk?.state === 'removing' &&
    removing.json.disk.index === 1, removing?.text);
  let left = null;
  for (let i = 0; i < 100 && left?.length !== 1; i++) {
    await sleep(200);
    left = (await request(SOURCE, 'GET', `${PREFIX}/vm/disks`)).json?.disks;
  }
  check('disk-remove: gone once the guest ejected it', left?.length === 1 && left[0].serial === 'd0', JSON.stringify(left));
  const gone = await guestRun('test -e /sys/block/vdb || echo vdb-gone-$((1+1))', 30);
  check('disk-remove: the guest has no vdb', gone && readFileSync(CONSOLE_OUT, 'utf8').includes('vdb-gone-2'),
    'no vdb-gone-2 on the console');
}

// Card 0's rate limits, per direction: changed, read back, refused; nothing changes on a refusal.
const netLimitsOf = (r) => r?.json && ['card', 'rx_bps', 'rx_bps_burst', 'rx_pps', 'rx_pps_burst', 'tx_bps', 'tx_bps_burst',
  'tx_pps', 'tx_pps_burst'].map((k) => r.json[k]).join();
async function netLimits() {
  const N = (...v) => [0, ...v].join();
  const start = await call('net card 0 limits', SOURCE, 'GET', '/vm/net/0/limits', { expect: 200 });
  check('net card 0: no limits at the start', netLimitsOf(start) === N(0, 0, 0, 0, 0, 0, 0, 0), start?.text);
  const steps = [
    ['rx_bps "1M": its burst is one second\'s worth', { rx_bps: '1M' }, N(MI, MI, 0, 0, 0, 0, 0, 0)],
    ['tx_pps 500 with tx_pps_burst "50"', { tx_pps: 500, tx_pps_burst: '50' }, N(MI, MI, 0, 0, 0, 0, 500, 50)],
    ['rx_pps and tx_bps at once', { rx_pps: 1000, tx_bps: '64M', tx_bps_burst: 4096 },
      N(MI, MI, 1000, 1000, 64 * MI, 4096, 500, 50)],
    ['an empty object: nothing changes', {}, N(MI, MI, 1000, 1000, 64 * MI, 4096, 500, 50)],
    ['all lifted', { rx_bps: 0, rx_pps: 0, tx_bps: 0, tx_pps: 0 }, N(0, 0, 0, 0, 0, 0, 0, 0)],
  ];
  for (const [what, body, want] of steps) {
    const r = await call(`net limits: ${what}`, SOURCE, 'PATCH', '/vm/net/0/limits', { body, expect: 200 });
    check(`net limits: ${what}: the reply`, netLimitsOf(r) === want, `${r?.text}, expected ${want}`);
    const back = await call(`net limits: ${what}: read back`, SOURCE, 'GET', '/vm/net/0/limits', { expect: 200 });
    check(`net limits: ${what}: read back the same`, netLimitsOf(back) === want, `${back?.text}, expected ${want}`);
  }
  await bad('net limits: rx_bps_burst without rx_bps', SOURCE, 'PATCH', '/vm/net/0/limits', { body: { rx_bps_burst: '1M' }, expect: 409 });
  await bad('net limits: no card 9', SOURCE, 'PATCH', '/vm/net/9/limits', { body: { rx_bps: 1 }, expect: 409 });
  await bad('net limits: GET no card 1', SOURCE, 'GET', '/vm/net/1/limits', { expect: 409 });
  await bad('net limits: "01" is no card', SOURCE, 'GET', '/vm/net/01/limits', { expect: 404 });
  await bad('net limits: PATCH "x" is no card', SOURCE, 'PATCH', '/vm/net/x/limits', { body: { rx_bps: 1 }, expect: 404 });
  await bad('net limits: text/plain', SOURCE, 'PATCH', '/vm/net/0/limits', { body: '{"rx_bps": 1}', type: 'text/plain', expect: 415 });
  for (const body of [{ rx_bps: -1 }, { tx_pps: '8M' }, { rx_bps: 2 ** 50 + 1 }, { tx_bps: null }, { bps: 1 },
    { rx_iops: 1 }, { card: 0 }, { 'rx-bps': 1 }])
    await bad(`net limits: bad body ${JSON.stringify(body)}`, SOURCE, 'PATCH', '/vm/net/0/limits',
      { body, expect: 400, schemaBad: true });
  const end = await call('net card 0 limits after the refusals', SOURCE, 'GET', '/vm/net/0/limits', { expect: 200 });
  check('net limits: the refusals changed nothing', netLimitsOf(end) === N(0, 0, 0, 0, 0, 0, 0, 0), end?.text);
}

// The disk (--disk d0.img,serial=d0): its limits by index and by serial, changed and read back.
const MI = 1 << 20;
const limitsOf = (r) => r?.json && [r.json.disk, r.json.bps, r.json.bps_burst, r.json.iops, r.json.iops_burst].join();
async function diskLimits() {
  const L = (bps, bpsBurst, iops, iopsBurst) => [0, bps, bpsBurst, iops, iopsBurst].join();
  const byIndex = await call('disk 0 limits', SOURCE, 'GET', '/vm/disks/0/limits', { expect: 200 });
  check('disk 0: no limits at the start', limitsOf(byIndex) === L(0, 0, 0, 0), byIndex?.text);
  const bySerial = await call('disk d0 limits (by serial)', SOURCE, 'GET', '/vm/disks/d0/limits', { expect: 200 });
  check('disk d0 is disk 0, same limits', limitsOf(bySerial) === limitsOf(byIndex), bySerial?.text);
  const steps = [
    ['bps "8M" (by serial): the burst is one second\'s worth', 'd0', { bps: '8M' }, L(8 * MI, 8 * MI, 0, 0)],
    ['iops 500 with iops_burst 1000', '0', { iops: 500, iops_burst: 1000 }, L(8 * MI, 8 * MI, 500, 1000)],
    ['bps_burst "16MiB" alone: the rate stays', '0', { bps_burst: '16MiB' }, L(8 * MI, 16 * MI, 500, 1000)],
    ['iops "250" (a string): a new rate resets its burst', 'd0', { iops: '250' }, L(8 * MI, 16 * MI, 250, 250)],
    ['an empty object: nothing changes', '0', {}, L(8 * MI, 16 * MI, 250, 250)],
    ['bps 0 lifts the limit and its burst', '0', { bps: 0 }, L(0, 0, 250, 250)],
    ['bps 2^50 (the largest)', '0', { bps: 2 ** 50 }, L(2 ** 50, 2 ** 50, 250, 250)],
    ['bps "1024T" (2^50) with bps_burst 4096', '0', { bps: '1024T', bps_burst: 4096 }, L(2 ** 50, 4096, 250, 250)],
    ['all four at once', 'd0', { bps: 64 * MI, bps_burst: '128M', iops: 1000, iops_burst: '2000' },
      L(64 * MI, 128 * MI, 1000, 2000)],
  ];
  for (const [what, disk, body, want] of steps) {
    const r = await call(`disk limits: ${what}`, SOURCE, 'PATCH', `/vm/disks/${disk}/limits`, { body, expect: 200 });
    check(`disk limits: ${what}: the reply`, limitsOf(r) === want, `${r?.text}, expected ${want}`);
    const back = await call(`disk limits: ${what}: read back`, SOURCE, 'GET', '/vm/disks/0/limits', { expect: 200 });
    check(`disk limits: ${what}: read back the same`, limitsOf(back) === want, `${back?.text}, expected ${want}`);
  }
  // A burst whose rate is 0 (now or by the same request): 409, nothing changed.
  await call('disk limits: lift bps for the next check', SOURCE, 'PATCH', '/vm/disks/0/limits', { body: { bps: 0 }, expect: 200 });
  await bad('disk limits: bps_burst without a bps in force', SOURCE, 'PATCH', '/vm/disks/0/limits', { body: { bps_burst: '1M' }, expect: 409 });
  await bad('disk limits: iops 0 with an iops_burst', SOURCE, 'PATCH', '/vm/disks/d0/limits', { body: { iops: 0, iops_burst: 10 }, expect: 409 });
  // Disks the VM does not have: 409.
  for (const disk of ['1', '255', 'd1', 'D0', '01', '256', 'a.b_c-d'])
    await bad(`disk limits: no disk ${disk}`, SOURCE, 'GET', `/vm/disks/${disk}/limits`, { expect: 409 });
  await bad('disk limits: PATCH no disk 7', SOURCE, 'PATCH', '/vm/disks/7/limits', { body: { iops: 5 }, expect: 409 });
  await bad('disk limits: PATCH no disk nope', SOURCE, 'PATCH', '/vm/disks/nope/limits', { body: { bps: '1M' }, expect: 409 });
  // Neither an index nor a serial: 404.
  for (const disk of ['x'.repeat(21), 'a%20b', 'd0!', '-1.5+'])
    await bad(`disk limits: ${JSON.stringify(disk)} is no disk name`, SOURCE, 'GET', `/vm/disks/${disk}/limits`, { expect: 404 });
  await bad('disk limits: PATCH "d0!" is no disk name', SOURCE, 'PATCH', '/vm/disks/d0!/limits', { body: { bps: '1M' }, expect: 404 });
  // Bodies the server refuses (400), nothing changed.
  for (const body of [{ bps: -1 }, { bps: 1.5 }, { bps: 2 ** 50 + 1 }, { bps: '8Q' }, { bps: null }, { bps: true },
    { bps: ' 8M' }, { bps: '' }, { bps_burst: [1] }, { iops: '8M' }, { iops: '-5' }, { iops: 2.5 }, { iops_burst: {} },
    { iops: '1e3' }])
    await bad(`disk limits: wrongly typed or out of range ${JSON.stringify(body)}`, SOURCE, 'PATCH', '/vm/disks/0/limits',
      { body, expect: 400, schemaBad: true });
  for (const body of [{ bps: '1025T' }, { iops: '1125899906842625' }])
    await bad(`disk limits: over 2^50 ${JSON.stringify(body)}`, SOURCE, 'PATCH', '/vm/disks/0/limits', { body, expect: 400 });
  for (const body of [{ rate: 1 }, { disk: 1 }, { Bps: 1 }, { bps: 1, 'iops-burst': 1 }, { command: 'quit' }])
    await bad(`disk limits: unknown field ${JSON.stringify(body)}`, SOURCE, 'PATCH', '/vm/disks/0/limits',
      { body, expect: 400, schemaBad: true });
  await bad('disk limits: no body', SOURCE, 'PATCH', '/vm/disks/0/limits', { body: '', expect: 400 });
  await bad('disk limits: a JSON array', SOURCE, 'PATCH', '/vm/disks/0/limits', { body: [], expect: 400 });
  await bad('disk limits: text/plain', SOURCE, 'PATCH', '/vm/disks/0/limits', { body: '{"bps": 1}', type: 'text/plain', expect: 415 });
  await bad('disk limits: a body on GET', SOURCE, 'GET', '/vm/disks/0/limits', { body: { bps: 1 }, expect: 400 });
  // iops as a string is decimal: "010" is ten, "0x10" is not a number.
  await bad('iops as the string "0x10" (not decimal)', SOURCE, 'PATCH', '/vm/disks/0/limits',
    { body: { iops: '0x10' }, expect: 400, schemaBad: true });
  const octal = await call('disk limits: iops "010"', SOURCE, 'PATCH', '/vm/disks/0/limits', { body: { iops: '010' }, expect: 200 });
  check('iops as the string "010" is ten (not 8)', octal?.json?.iops === 10, octal?.text);
  // Limits left for the migration, which keeps them (checked on the destination by gureum ctl).
  const left = await call('disk limits for the migration', SOURCE, 'PATCH', '/vm/disks/d0/limits',
    { body: { bps: '64M', iops: 1000, iops_burst: 0 }, expect: 200 });
  check('disk limits for the migration: bps 64M, iops 1000', limitsOf(left) === L(64 * MI, 64 * MI, 1000, 1000), left?.text);
}

// ---- 2. bad requests of every kind ----------------------------------------------------------------

async function badRequests() {
  const big = JSON.stringify({ size: 0, pad: 'x'.repeat(70 * 1024) });
  // Each operation: a body over 64 KiB (413), and an otherwise bad request (400).
  for (const key of operations) {
    const [method, template] = key.split(' ');
    const path = template.replace('{card}', '0').replace('{disk}', '0');
    await bad(`over 64 KiB to ${key}`, SOURCE, method, path, { body: big, expect: 413 });
    // (Every field of a disk's or a card's limits is optional: {} reads them.)
    const badBody = template.includes('{disk}') ? { bps: 'x' } : template.endsWith('/limits') ? { rx_bps: 'x' } : {};
    if (requestSchemaPointer(template, method))
      await bad(`${JSON.stringify(badBody)} to ${key}`, SOURCE, method, path, { body: badBody, expect: 400, schemaBad: true });
    else
      await bad(`a body to ${key} (takes none)`, SOURCE, method, path, { body: { a: 1 }, expect: 400 });
  }
  // The limit itself: 64 KiB of JSON (padded with spaces) is read, one byte more is not.
  const exact = `{"size": 0}${' '.repeat(64 * 1024 - 11)}`;
  await call('a body of exactly 64 KiB is taken', SOURCE, 'PUT', '/vm/balloon', { body: exact, expect: 204 });
  await bad('a body of 64 KiB + 1', SOURCE, 'PUT', '/vm/balloon', { body: `${exact} `, expect: 413 });
  await bad('body on a GET', SOURCE, 'GET', '/vm/balloon', { body: '{}', expect: 400 });
  await bad('body without Content-Type on a GET', SOURCE, 'GET', '/vm', { body: 'hello', type: null, expect: 400 });
  await bad('over 64 KiB to an unknown path', SOURCE, 'POST', '/nothing', { body: big, expect: 413 });

  await bad('malformed JSON', SOURCE, 'PUT', '/vm/balloon', { body: '{"size": ', expect: 400 });
  await bad('trailing garbage', SOURCE, 'PUT', '/vm/balloon', { body: '{"size": 0} x', expect: 400 });
  await bad('not UTF-8', SOURCE, 'PUT', '/vm/balloon', { body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x30, 0x7d]), expect: 400 });
  await bad('a JSON array', SOURCE, 'PUT', '/vm/balloon', { body: [{ size: 0 }], expect: 400 });
  await bad('a JSON string', SOURCE, 'PUT', '/vm/balloon', { body: '"0"', expect: 400 });
  await bad('JSON null', SOURCE, 'PUT', '/vm/balloon', { body: 'null', expect: 400 });
  await bad('a duplicate key', SOURCE, 'PUT', '/vm/balloon', { body: '{"size": 0, "size": "1G"}', expect: 400 });
  await bad('empty body where one is needed', SOURCE, 'PUT', '/vm/balloon', { body: '', expect: 400 });

  await bad('text/plain body', SOURCE, 'PUT', '/vm/balloon', { body: '{"size": 0}', type: 'text/plain', expect: 415 });
  await bad('no Content-Type', SOURCE, 'PUT', '/vm/balloon', { body: '{"size": 0}', type: null, expect: 415 });
  await bad('application/jsonx', SOURCE, 'POST', '/vm/snapshot', { body: '{"dir": "/tmp"}', type: 'application/jsonx', expect: 415 });
  await bad('form data to screendump', SOURCE, 'POST', '/vm/screendump', { body: 'file=/tmp/x.png', type: 'application/x-www-form-urlencoded', expect: 415 });
  await bad('text/json to net link', SOURCE, 'PUT', '/vm/net/0/link', { body: '{"up": false}', type: 'text/json', expect: 415 });
  await bad('text/plain to disk-add', SOURCE, 'POST', '/vm/disks', { body: '{"path": "/x"}', type: 'text/plain', expect: 415 });
  await bad('text/plain to vcpus', SOURCE, 'PUT', '/vm/cpus', { body: '{"count": 1}', type: 'text/plain', expect: 415 });
  await bad('XML to net mac', SOURCE, 'PUT', '/vm/net/0/mac', { body: '<mac/>', type: 'application/xml', expect: 415 });
  await bad('text/plain to migration', SOURCE, 'POST', '/vm/migration', { body: `{"uri": "${MIGRATE_URI}"}`, type: 'text/plain', expect: 415 });

  const typed = [
    ['PUT', '/vm/balloon', { size: true }], ['PUT', '/vm/balloon', { size: -1 }],
    ['PUT', '/vm/balloon', { size: 1.5 }], ['PUT', '/vm/balloon', { size: '12Q' }],
    ['PUT', '/vm/balloon', { size: '-5M' }], ['PUT', '/vm/balloon', { size: null }],
    ['PUT', '/vm/balloon', { size: [1] }],
    ['PUT', '/vm/net/0/link', { up: 'false' }], ['PUT', '/vm/net/0/link', { up: 0 }],
    ['PUT', '/vm/net/0/mac', { mac: 525400123456 }], ['PUT', '/vm/net/0/mac', { mac: '01:00:5e:00:00:01' }],
    ['PUT', '/vm/net/0/mac', { mac: '52:54:00:12:34' }], ['PUT', '/vm/net/0/mac', { mac: '52-54-00-12-34-56' }],
    ['POST', '/vm/snapshot', { dir: 'relative/dir' }], ['POST', '/vm/snapshot', { dir: `${WORK}/snap3`, resume: 'no' }],
    ['POST', '/vm/snapshot', { dir: `${WORK}/snap3`, disk_snapshot: 1 }], ['POST', '/vm/snapshot', { dir: 42 }],
    ['POST', '/vm/migration', { uri: 'http://localhost:1' }], ['POST', '/vm/migration', { uri: 7 }],
    ['POST', '/vm/migration', { uri: MIGRATE_URI, downtime_ms: 0 }],
    ['POST', '/vm/migration', { uri: MIGRATE_URI, downtime_ms: 60001 }],
    ['POST', '/vm/migration', { uri: MIGRATE_URI, downtime_ms: '300' }],
    ['POST', '/vm/migration', { uri: MIGRATE_URI, compress: 'yes' }],
    ['POST', '/vm/migration', { uri: MIGRATE_URI, max_bandwidth: 0 }],
    ['POST', '/vm/migration', { uri: MIGRATE_URI, max_bandwidth: 1.5 }],
    ['POST', '/vm/migration', { uri: MIGRATE_URI, auto_converge: null }],
    ['POST', '/vm/migration', { uri: MIGRATE_URI, postcopy: 'true' }],
    ['POST', '/vm/migration', { uri: MIGRATE_URI, postcopy_after_rounds: 31 }],
    ['POST', '/vm/migration', { uri: MIGRATE_URI, postcopy_after_rounds: -1 }],
    ['POST', '/vm/screendump', { file: 'shot.png' }], ['POST', '/vm/screendump', { file: false }],
  ];
  for (const [method, path, body] of typed)
    await bad(`wrongly typed or out of range: ${method} ${path} ${JSON.stringify(body)}`, SOURCE, method, path,
      { body, expect: 400, schemaBad: true });

  const unknown = [
    ['PUT', '/vm/balloon', { size: 0, extra: 1 }], ['PUT', '/vm/balloon', { size: 0, command: 'quit' }],
    ['PUT', '/vm/net/0/link', { up: false, card: 1 }], ['PUT', '/vm/net/0/mac', { mac: '52:54:00:00:00:07', MAC: 'x' }],
    ['POST', '/vm/snapshot', { dir: `${WORK}/snap3`, stay_paused: true }],
    ['POST', '/vm/migration', { uri: MIGRATE_URI, bandwidth: 1 }],
    ['POST', '/vm/screendump', { file: `${WORK}/x.png`, format: 'png' }],
  ];
  for (const [method, path, body] of unknown)
    await bad(`unknown field: ${method} ${path} ${JSON.stringify(body)}`, SOURCE, method, path,
      { body, expect: 400, schemaBad: true });

  // The MAC as sscanf's %2x reads it: a sign or a space inside an octet.
  for (const mac of ['+2:54:00:12:34:56', ' 2:54:00:12:34:56', '52:54:00:12:34:-6']) {
    await bad(`MAC ${JSON.stringify(mac)}`, SOURCE, 'PUT', '/vm/net/0/mac', { body: { mac }, expect: 400, schemaBad: true });
    await request(SOURCE, 'PUT', `${PREFIX}/vm/net/0/mac`, { body: { mac: MAC0 } }); // in case it went through
  }
  await bad('a percent-encoded slash (vm%2Fpause)', SOURCE, 'POST', '/vm%2Fpause', { expect: 404 });
  await bad('a percent-encoded letter (vm/%70ause)', SOURCE, 'POST', '/vm/%70ause', { expect: 404 });
  await bad('a percent-encoded serial (disks/%64%30)', SOURCE, 'GET', '/vm/disks/%64%30/limits', { expect: 404 });
  await request(SOURCE, 'POST', `${PREFIX}/vm/resume`); // in case the pause went through

  const missing = [['PUT', '/vm/net/0/link', { Up: true }], ['POST', '/vm/migration', { downtime_ms: 100 }],
    ['POST', '/vm/snapshot', { resume: true }], ['PUT', '/vm/balloon', { Size: 0 }]];
  for (const [method, path, body] of missing)
    await bad(`missing required field: ${method} ${path} ${JSON.stringify(body)}`, SOURCE, method, path,
      { body, expect: 400, schemaBad: true });

  // Wrong methods: 405 with the resource's methods in Allow (checked against the document).
  for (const [method, path] of [['DELETE', '/vm'], ['PUT', '/vm'], ['GET', '/vm/stop'], ['GET', '/vm/pause'],
    ['PATCH', '/vm/balloon'], ['POST', '/vm/balloon'], ['PUT', '/vm/migration'], ['GET', '/vm/migration/reconnect'],
    ['POST', '/vm/net/0'], ['GET', '/vm/net/0/link'], ['DELETE', '/vm/net/0/mac'], ['GET', '/vm/screendump'],
    ['GET', '/vm/snapshot'], ['OPTIONS', '/vm'], ['PUT', '/vm/disks/0/limits'], ['POST', '/vm/disks/d0/limits'],
    ['DELETE', '/vm/disks/0/limits'], ['POST', '/vm/counters'], ['DELETE', '/vm/counters'],
    ['PUT', '/vm/net'], ['DELETE', '/vm/net'], ['GET', '/vm/disks/0'], ['PUT', '/vm/disks'], ['DELETE', '/vm/disks'], ['POST', '/vm/disks/0']])
    await bad(`wrong method ${method} ${path}`, SOURCE, method, path, { expect: 405 });

  // Unknown paths: 404.
  for (const path of ['/vms', '/vm/', '/vm/pause/now', '/vm/balloons', '/vm/net/0/', '/', '/vm/' + 'x'.repeat(300),
    '/vm/disks/0/limits/', '/vm/disks//limits', '/vm/disks/d0/limit'])
    await bad(`unknown path ${path.slice(0, 40)}`, SOURCE, 'GET', path, { expect: 404 });
  for (const path of ['/api/v2/vm', '/vm', '/api/v1', '/api/v1vm', '/api/v1x/vm'])
    await bad(`unknown path ${path} (outside /api/v1/vm)`, SOURCE, 'GET', path, { expect: 404, absolute: true });

  // Query strings: 400, whatever the resource (a pause with one must not pause).
  for (const [method, path] of [['GET', '/vm?verbose=1'], ['GET', '/vm/balloon?'], ['POST', '/vm/pause?x=1'],
    ['GET', '/vm/net/0?card=1'], ['GET', '/vm/migration?state'], ['GET', '/vm/disks/0/limits?x'],
    ['PATCH', '/vm/disks/d0/limits?bps=1'], ['GET', '/vm/counters?vcpu=0']]) {
    await bad(`query string ${method} ${path}`, SOURCE, method, path,
      { body: method === 'PATCH' ? { bps: 4096 } : undefined, expect: 400 });
    await request(SOURCE, 'POST', `${PREFIX}/vm/resume`); // in case the pause went through
  }

  // Not HTTP as the server wants it: a 4xx (or the connection closed), and nothing changed.
  for (const [what, text] of [
    ['a header line without a colon', 'POST /api/v1/vm/pause HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n'],
    ['an unknown HTTP version', 'POST /api/v1/vm/pause HTTP/7.0\r\nHost: x\r\n\r\n'],
    ['a Content-Length that is not a number', 'PUT /api/v1/vm/balloon HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ten\r\n\r\n{"size":0}'],
    ['not HTTP at all', 'HELLO\r\n\r\n'],
    ['a 100 KiB path', `GET /api/v1/vm/${'x'.repeat(100 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['a 100 KiB header', `GET /api/v1/vm HTTP/1.1\r\nHost: x\r\nX-Big: ${'x'.repeat(100 * 1024)}\r\n\r\n`],
  ]) {
    const before = await stateOf(SOURCE);
    const raw = await rawRequest(SOURCE, text);
    const line = raw.split('\r\n')[0];
    const rawBody = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    check(`bad: ${what}: a 4xx (505 for the version) or the connection closed`,
      raw === '' || /^HTTP\/1\.[01] (4\d\d|505) /.test(raw), line);
    const type = /\r\ncontent-type: *([^\r]*)/i.exec(raw)?.[1];
    if (raw && type !== 'application/json')
      console.log(`info ${what}: "${line}" from libmicrohttpd itself, Content-Type ${type ?? 'none'}, ` +
        `body ${JSON.stringify(rawBody.slice(0, 80))}, not the API's JSON error`);
    check(`bad: ${what}: the VM did not change`, before === await stateOf(SOURCE), 'changed');
  }
}

// API_MAX_CLIENTS (8) idle connections: a 9th connection hears 503 (the error schema) for any
// operation, which does nothing; one of the 8 is still served; once they close the API answers.
const GOOD_REQUEST = {
  'PUT /vm/balloon': { size: 0 }, 'POST /vm/snapshot': { dir: '/nonexistent-gureum-dir' },
  'POST /vm/migration': { uri: 'unix:/nonexistent-gureum.sock' }, 'PUT /vm/net/{card}/link': { up: false },
  'PUT /vm/net/{card}/mac': { mac: '52:54:00:00:00:99' }, 'POST /vm/screendump': { file: '/nonexistent-gureum/x.png' },
  'PATCH /vm/disks/{disk}/limits': { bps: 4096 },
};
function openIdle(sock) {
  return new Promise((resolve) => {
    const c = net.createConnection(sock, () => resolve(c));
    c.on('error', () => resolve(c));
  });
}
async function connectionLimit() {
  const before = await stateOf(SOURCE);
  const idle = [];
  for (let i = 0; i < 8; i++) idle.push(await openIdle(SOURCE));
  await sleep(500); // the server accepts the 8 before the others
  try {
    for (const key of operations) {
      const [method, template] = key.split(' ');
      const path = template.replace('{card}', '0').replace('{disk}', 'd0');
      await call(`connection limit: a 9th connection: ${key}`, SOURCE, method, path,
        { body: GOOD_REQUEST[key], expect: 503, timeout: 5000 });
    }
    // One of the 8 is served (they are never refused once made).
    const raw = await new Promise((resolve) => {
      const c = idle[3];
      const chunks = [];
      const t = setTimeout(() => resolve(Buffer.concat(chunks).toString('latin1')), 5000);
      c.on('data', (d) => {
        chunks.push(d);
        const text = Buffer.concat(chunks).toString('latin1');
        if (/\r\n\r\n[\s\S]*\}/.test(text)) { clearTimeout(t); resolve(text); }
      });
      c.write('GET /api/v1/vm HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    check('connection limit: one of the 8 idle connections is served (200)', /^HTTP\/1\.1 200 /.test(raw),
      raw.split('\r\n')[0] || 'no reply in 5 s');
  } finally {
    for (const c of idle) c.destroy();
  }
  let answered = false;
  for (let i = 0; i < 50 && !answered; i++) {
    answered = (await request(SOURCE, 'GET', `${PREFIX}/vm`, { timeout: 2000 }).catch(() => null))?.status === 200;
    if (!answered) await sleep(100);
  }
  check('connection limit: served again once the idle connections closed', answered, 'no answer in 5 s');
  const after = await stateOf(SOURCE);
  check('connection limit: the 503s changed nothing', before === after, `before ${before}, after ${after}`);
}

function rawRequest(sock, text) {
  return new Promise((resolve) => {
    const chunks = [];
    const c = net.createConnection(sock, () => c.write(text));
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    c.on('error', () => resolve(Buffer.concat(chunks).toString('latin1')));
    c.setTimeout(10000, () => c.destroy());
    c.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

// ---- 3. a VM without name, balloon, display or network card: its 409s, and stop --------------------------

async function bareVm() {
  const sock = `${WORK}/bare.sock`;
  const vm = startVm('bare', ['run', '--kernel', `${IMAGES}/vmlinuz`, '--initrd',
    `${IMAGES}/initramfs.cpio.gz`, '--cmdline', 'console=ttyS0 quiet', '--accel', 'emu', '--memory', '256M',
    '--console', 'none', '--api-socket', sock]);
  if (!check('bare VM: its API socket answers', await waitSocket(sock, 60), `see ${vm.log}`)) {
    vm.child.kill('SIGKILL');
    return;
  }
  // The socket opens before the VM is made: it may still be "starting", without an accelerator.
  const first = await call('bare VM: status at once', sock, 'GET', '/vm', { expect: 200 });
  console.log(`info bare VM at once: ${first?.text}`);
  if (first?.json?.state === 'starting')
    check('bare VM: starting, no accelerator yet', first.json.accel === null && first.json.boots === 0, first.text);
  check('bare VM: running', await waitState(sock, 'running', 60), 'not running in 60 s');
  const s = await call('bare VM: status', sock, 'GET', '/vm', { expect: 200 });
  check('bare VM: no name (null), no balloon or network card', s?.json?.name === null &&
    !s.json.devices.some((d) => /balloon|net/.test(d)), s?.text);
  await call('bare VM: balloon info without a balloon: refused', sock, 'GET', '/vm/balloon', { expect: 409 });
  await call('bare VM: memory without --memory-hotplug: refused', sock, 'GET', '/vm/memory', { expect: 409 });
  await call('bare VM: memory 512M without --memory-hotplug: refused', sock, 'PUT', '/vm/memory', { body: { size: '512M' }, expect: 409 });
  await call('bare VM: balloon without a balloon: refused', sock, 'PUT', '/vm/balloon', { body: { size: '1M' }, expect: 409 });
  await call('bare VM: screendump without a display: refused', sock, 'POST', '/vm/screendump',
    { body: { file: `${WORK}/bare.png` }, expect: 409 });
  await call('bare VM: net card 0 without one: refused', sock, 'PUT', '/vm/net/0/mac', { body: { mac: '52:54:00:00:00:01' }, expect: 409 });
  await call('bare VM: disk 0 limits without a disk: refused', sock, 'GET', '/vm/disks/0/limits', { expect: 409 });
  await call('bare VM: disk 0 limits PATCH without a disk: refused', sock, 'PATCH', '/vm/disks/0/limits', { body: { bps: '1M' }, expect: 409 });
  const bv = await call('bare VM: vcpus', sock, 'GET', '/vm/cpus', { expect: 200 });
  check('bare VM: 1 vCPU, at most 1', bv?.json?.present === 1 && bv.json.max === 1, bv?.text);
  await call('bare VM: vcpus 1 without max=: refused', sock, 'PUT', '/vm/cpus', { body: { count: 1 }, expect: 409 });
  await call('bare VM: pause', sock, 'POST', '/vm/pause', { expect: 204 });
  await call('bare VM: power button while paused: refused', sock, 'POST', '/vm/power-button', { expect: 409 });
  await call('bare VM: resume', sock, 'POST', '/vm/resume', { expect: 204 });
  // A reset: the VM boots again and runs (the power button below then ends it: the new
  // boot's guest reached its init, which powers off on the press).
  const bootsBefore = (await call('bare VM: status before the reset', sock, 'GET', '/vm', { expect: 200 }))?.json?.boots;
  await call('bare VM: reset', sock, 'POST', '/vm/reset', { expect: 204 });
  let afterReset = null;
  for (let i = 0; i < 300 && !(afterReset?.json?.boots > bootsBefore && afterReset.json.state === 'running'); i++) {
    await sleep(100);
    afterReset = await request(sock, 'GET', `${PREFIX}/vm`).catch(() => null);
  }
  check('bare VM: after the reset, one boot more and running', afterReset?.json?.boots === bootsBefore + 1 &&
    afterReset.json.state === 'running', afterReset?.text);
  check('bare VM: the VMM says it reset the VM and started it again',
    /resetting the VM[\s\S]*restarting the VM/.test(readFileSync(vm.log, 'utf8')), `see ${vm.log}`);
  // The default guest's init powers off on a press (scripts/guest-init). A press before its
  // button driver is loaded goes unseen, as on real hardware: press every 2 s until it exits.
  let code = null;
  let presses = 0;
  const deadline = Date.now() + 240000;
  while (code === null && Date.now() < deadline) {
    const r = await request(sock, 'POST', PREFIX + '/vm/power-button').catch(() => null);
    if (r?.status === 204) {
      presses++;
      conform('bare VM: power button', 'POST', '/vm/power-button', r, 204);
    } else if (r && r.status !== 409) {
      fail('bare VM: power button', `${r.status} ${r.text}`); // 409 once it is stopping
      break;
    }
    code = await withTimeout(vm.exited, 2000, 'bare VM exit').catch(() => null);
  }
  console.log(`info bare VM: power button pressed ${presses} times before it powered off`);
  check('bare VM: the guest powers off on the power button, exit 0', code === 0 && presses > 0,
    `exit ${code} after ${presses} presses (${readFileSync(vm.log, 'utf8').slice(-300)})`);
  check('bare VM: its socket file is gone', !existsSync(sock), 'still there');
}

// ---- 4. migration: one cancelled, one to the end (post-copy, with a reconnect) ------------------------

async function migrations() {
  // A destination of its own for the migration that is cancelled (a destination takes one).
  const cancelUri = `unix:${WORK}/mig-cancel.sock`;
  const cancelDest = startVm('cancel-dest', ['run', '--incoming', cancelUri, '--console', 'none',
    '--display', `vnc=unix:${WORK}/vnc-cancel.sock`, '--api-socket', `${WORK}/api-cancel.sock`]);
  for (let i = 0; i < 100 && !existsSync(`${WORK}/mig-cancel.sock`); i++) await sleep(100);

  const slow = call('migrate at 1 MiB/s (cancelled below)', SOURCE, 'POST', '/vm/migration',
    { body: { uri: cancelUri, max_bandwidth: 1 << 20, downtime_ms: 100, compress: false, auto_converge: false },
      expect: 409, timeout: 300000 });
  let active = null;
  for (let i = 0; i < 100; i++) {
    const r = await request(SOURCE, 'GET', `${PREFIX}/vm/migration`);
    if (r.json?.state === 'active') { active = r; break; }
    await sleep(100);
  }
  if (check('migration becomes active', active !== null, 'never active')) {
    conform('migration status while active', 'GET', '/vm/migration', active, 200);
    await sleep(1500);
    const st = await call('migration status, later', SOURCE, 'GET', '/vm/migration', { expect: 200 });
    check('migration progresses', st?.json?.state === 'active' && st.json.transferred_bytes > 0 &&
      st.json.uri === cancelUri, st?.text);
    await call('pause during a migration: refused', SOURCE, 'POST', '/vm/pause', { expect: 409 });
    await call('stop during a migration: refused', SOURCE, 'POST', '/vm/stop', { expect: 409 });
    await call('reset during a migration: refused', SOURCE, 'POST', '/vm/reset', { expect: 409 });
    await call('snapshot during a migration: refused', SOURCE, 'POST', '/vm/snapshot',
      { body: { dir: `${WORK}/snap` }, expect: 409 });
    await call('a second migration: refused', SOURCE, 'POST', '/vm/migration', { body: { uri: MIGRATE_URI }, expect: 409 });
    await call('reconnect before post-copy: refused', SOURCE, 'POST', '/vm/migration/reconnect', { expect: 409 });
    await bad('malformed JSON during a migration', SOURCE, 'POST', '/vm/migration', { body: '{', expect: 400 });
    await call('cancel', SOURCE, 'DELETE', '/vm/migration', { expect: 204 });
  }
  await slow;
  const after = await call('migration status after the cancel', SOURCE, 'GET', '/vm/migration', { expect: 200 });
  check('migration state cancelled', after?.json?.state === 'cancelled' && after.json.error.length > 0, after?.text);
  check('the VM runs on here after the cancel', await waitState(SOURCE, 'running', 10), 'not running');
  await call('cancel again: refused', SOURCE, 'DELETE', '/vm/migration', { expect: 409 });
  const code = await withTimeout(cancelDest.exited, 30000, 'the cancelled destination').catch((e) => {
    cancelDest.child.kill('SIGKILL');
    return e.message;
  });
  console.log(`info the cancelled migration's destination ended with ${code}`);

  // The full one: post-copy at once (the software CPU switches at once), slowly enough that
  // the post-copy lasts, its link made again once.
  const full = call('migrate with post-copy', SOURCE, 'POST', '/vm/migration',
    { body: { uri: MIGRATE_URI, postcopy: true, postcopy_after_rounds: 0, max_bandwidth: 16 << 20 },
      expect: 200, timeout: 500000 });
  let postcopy = null;
  for (let i = 0; i < 600 && !postcopy; i++) {
    const r = await request(SOURCE, 'GET', `${PREFIX}/vm/migration`).catch(() => null);
    if (r?.json?.postcopy) postcopy = r;
    else if (r && r.json?.state !== 'active' && i > 50) break;
    await sleep(50);
  }
  if (check('the migration reaches post-copy', postcopy !== null, 'it never said postcopy')) {
    conform('migration status in post-copy', 'GET', '/vm/migration', postcopy, 200);
    await call('cancel in post-copy: refused', SOURCE, 'DELETE', '/vm/migration', { expect: 409 });
    await call('reconnect in post-copy', SOURCE, 'POST', '/vm/migration/reconnect', { expect: 204 });
    await sleep(500);
    await call('migration status after the reconnect', SOURCE, 'GET', '/vm/migration', { expect: 200 });
  }
  const result = await full;
  check('the migration ended in post-copy with the reconnect counted', result?.json?.postcopy === true &&
    result.json.postcopy_recoveries >= 1, result?.text);
  check('the source VM went away (its socket file is gone)', await waitGone(SOURCE, 30), 'still there');
  check('the destination answers', await waitSocket(DEST, 60), 'no socket');
  const d = await call('destination: status', DEST, 'GET', '/vm', { expect: 200 });
  check('destination: running, with the VM\'s name', d?.json?.state === 'running' && d.json.name === 'contract', d?.text);
  const mac = await call('destination: net card 0', DEST, 'GET', '/vm/net/0', { expect: 200 });
  check('destination: the card has its MAC back as the source had it', /^[0-9a-f:]{17}$/.test(mac?.json?.mac ?? ''), mac?.text);
  await call('destination: migration status', DEST, 'GET', '/vm/migration', { expect: 200 });
  const mem = await call('destination: memory', DEST, 'GET', '/vm/memory', { expect: 200 });
  check('destination: the 128 MiB virtio-mem had plugged came along', mem?.json?.plugged === 128 << 20 &&
    mem.json.requested === 128 << 20, mem?.text);
}

// ---- 5. gureum ctl against the destination, then stop -----------------------------------------------

async function ctlChecks() {
  let r = await ctl([DEST, 'status']);
  check('ctl status', r.code === 0 && /running/.test(r.stdout), `exit ${r.code}: ${r.stdout}${r.stderr}`);
  // The source's hot-added vCPU moved with it.
  r = await ctl([DEST, 'cpus']);
  check('ctl cpus: the destination has the 2 vCPUs of the source', r.code === 0 &&
    /vCPUs: 2 present, at most 2/.test(r.stdout), `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl([DEST, 'cpus', '0']);
  check('ctl cpus 0: refused by ctl', r.code !== 0 && /1 to 255/.test(r.stderr), `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl(['--json', DEST, 'status']);
  let body;
  try { body = JSON.parse(r.stdout); } catch { body = undefined; }
  const { schemaPointer } = documentedResponse('/vm', 'GET', '200');
  const v = validatorFor(schemaPointer);
  check('ctl --json status: the body as the document has it', r.code === 0 && body && v(body),
    `exit ${r.code}: ${r.stdout}${r.stderr} ${ajv.errorsText(v.errors)}`);
  const direct = await request(DEST, 'GET', `${PREFIX}/vm`);
  check('ctl --json status = GET /vm', JSON.stringify(body) === JSON.stringify(direct.json), `${r.stdout} vs ${direct.text}`);
  r = await ctl([DEST, 'pause']);
  check('ctl pause', r.code === 0 && await waitState(DEST, 'paused', 5), `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl(['--json', DEST, 'status']);
  check('ctl --json status: paused', r.code === 0 && JSON.parse(r.stdout || '{}').state === 'paused', r.stdout);
  r = await ctl([DEST, 'pause']);
  check('ctl pause when paused: exit 1 with the reason', r.code === 1 && /pause/i.test(r.stdout + r.stderr), `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl([DEST, 'resume']);
  check('ctl resume', r.code === 0 && await waitState(DEST, 'running', 5), `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl(['--json', DEST, 'resume']);
  check('ctl --json resume when running: exit 1, the error body', r.code === 1 && typeof JSON.parse(r.stdout || '{}').error === 'string',
    `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl(['--json', DEST, 'balloon-info']);
  const bv = validatorFor(documentedResponse('/vm/balloon', 'GET', '200').schemaPointer);
  check('ctl --json balloon-info: the body as the document has it', r.code === 0 && bv(JSON.parse(r.stdout || 'null')), r.stdout + r.stderr);
  r = await ctl([DEST, 'migrate-status']);
  check('ctl migrate-status', r.code === 0, `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl(['--json', DEST, 'counters']);
  const cv = validatorFor(documentedResponse('/vm/counters', 'GET', '200').schemaPointer);
  let counted;
  try { counted = JSON.parse(r.stdout); } catch { counted = undefined; }
  check('ctl --json counters: the body as the document has it', r.code === 0 && counted && cv(counted),
    `exit ${r.code}: ${r.stdout.slice(0, 300)}${r.stderr} ${ajv.errorsText(cv.errors)}`);
  r = await ctl([DEST, 'counters']);
  check('ctl counters: each vCPU and the disk, readably', r.code === 0 && /^vCPU 0: exits/m.test(r.stdout) &&
    /^virtio-blk0: kicks \d+/m.test(r.stdout) && /^ {2}reads \d+ \(/m.test(r.stdout), `exit ${r.code}: ${r.stdout}${r.stderr}`);
  // The disk's limits came with the migration; then changed by ctl.
  const lv = validatorFor(documentedResponse('/vm/disks/{disk}/limits', 'GET', '200').schemaPointer);
  r = await ctl(['--json', DEST, 'disk-limit', '0']);
  let lim;
  try { lim = JSON.parse(r.stdout); } catch { lim = undefined; }
  check('ctl --json disk-limit 0: the body as the document has it', r.code === 0 && lim && lv(lim), `exit ${r.code}: ${r.stdout}${r.stderr}`);
  check('the disk\'s limits came with the migration (bps 64M, iops 1000)', limitsOf({ json: lim }) ===
    [0, 64 * MI, 64 * MI, 1000, 1000].join(), r.stdout);
  r = await ctl([DEST, 'disk-limit', 'd0', 'bps=8M']);
  check('ctl disk-limit d0 bps=8M', r.code === 0 && /bps +8388608 bytes per second, burst 8388608/.test(r.stdout) &&
    /iops +1000 requests per second/.test(r.stdout), `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl(['--json', DEST, 'disk-limit', '0']);
  const direct2 = await request(DEST, 'GET', `${PREFIX}/vm/disks/0/limits`);
  check('ctl --json disk-limit 0 = GET /vm/disks/0/limits, with bps 8M', r.code === 0 &&
    JSON.stringify(JSON.parse(r.stdout || '{}')) === JSON.stringify(direct2.json) && direct2.json?.bps === 8 * MI,
    `${r.stdout} vs ${direct2.text}`);
  r = await ctl([DEST, 'disk-limit', 'd0', 'bps=0', 'iops=0']);
  check('ctl disk-limit d0 bps=0 iops=0: no limits', r.code === 0 && /bps +no limit/.test(r.stdout) && /iops +no limit/.test(r.stdout),
    `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl([DEST, 'disk-limit', 'd9']);
  check('ctl disk-limit d9 (no such disk): exit 1 with the reason', r.code === 1 && /disk/.test(r.stdout + r.stderr), `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl(['--json', DEST, 'disk-limit', '0', 'bps_burst=1M']);
  check('ctl disk-limit 0 bps_burst=1M (the option is bps-burst): refused by ctl', r.code !== 0, `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl(['--json', DEST, 'disk-limit', '0', 'bps-burst=1M']);
  check('ctl --json disk-limit 0 bps-burst=1M with bps 0: exit 1, the error body', r.code === 1 &&
    typeof JSON.parse(r.stdout || '{}').error === 'string', `exit ${r.code}: ${r.stdout}${r.stderr}`);
  r = await ctl([`${WORK}/no-such.sock`, 'status']);
  check('ctl to a socket nobody listens on: exit 1', r.code === 1, `exit ${r.code}`);

  await call('destination: stop', DEST, 'POST', '/vm/stop', { expect: 204 });
  check('destination: its socket file is gone after stop', await waitGone(DEST, 30), 'still there');
}

// ---- run ------------------------------------------------------------------------------------------

const phases = [['good requests', goodRequests], ['bad requests', badRequests], ['connections', connectionLimit], ['bare VM', bareVm],
  ['migrations', migrations], ['ctl', ctlChecks]];
for (const [name, phase] of phases) {
  console.log(`---- ${name}`);
  try {
    await phase();
  } catch (e) {
    fail(name, e.stack);
  }
}

console.log('---- coverage of the document');
const unreachable = (key) => {
  const [method, path, status] = key.split(' ');
  return UNREACHABLE.find((u) => (u.path === '*' || u.path === path) && (u.method === '*' || u.method === method) &&
    u.status === status);
};
let covered = 0;
let skipped = 0;
for (const [key, seen] of triples) {
  const why = unreachable(key);
  if (seen) {
    covered++;
    continue;
  }
  if (why) {
    skipped++;
    console.log(`skip ${key}: not reachable by this test (${why.reason})`);
    continue;
  }
  fail(`coverage: ${key}`, 'documented but never answered');
}
for (const op of operations)
  if (![...triples].some(([k, n]) => k.startsWith(`${op} 2`) && n > 0)) fail(`coverage: ${op}`, 'never succeeded');
console.log(`${operations.size} operations, ${triples.size} documented (path, method, status): ${covered} seen, ` +
  `${skipped} unreachable (listed)`);
console.log(summary());
for (const child of children) // those a failed check left running
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
process.exit(counts.failed ? 1 : 0);
