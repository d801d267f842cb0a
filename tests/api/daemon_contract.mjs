// gureumd's API contract: docs/api/daemon.yaml against a running gureumd and its VMs.
//   node daemon_contract.mjs      (run by daemon_contract.sh, which starts gureumd)
// Environment: GUREUM, API_DOC (docs/api/daemon.yaml), SOCK (gureumd.sock), WORK (the test's
// directory), STATE_DIR and RUN_DIR (gureumd's), DAEMON_PID, IDLE_KERNEL (tests/guests/idle.elf:
// a guest that says "idle guest up" on its console and halts; it ignores the power button),
// NODE_SECONDS (how long it may take; 240).
//
// 1. The document is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator).
// 2. Every reply is checked against the document: its status must be documented for that path
//    and method, its body must match that response's schema (ajv, draft 2020-12), a 204 has no
//    body, an error is {"error": "..."}, a 405 has the path's methods in Allow. Every good
//    request body sent must be valid against the request schema, and every schema-level bad
//    one invalid, so the document cannot accept what the server refuses or the other way round.
// 3. Every (path, method, status) the document lists must have been seen at the end, except
//    those in UNREACHABLE below (each with its reason): the document and the test cannot drift.
// 4. The life of VMs as an operator sees it: create (stopped, as defined, listed by name),
//    start (the process runs gureum run with the VM's args, its console says "idle guest up",
//    its own API answers), the restart policies (kill -9 restarted by on-failure, left failed
//    by never, given up after 5 restarts), stop (power button, SIGTERM after the timeout;
//    force skips the button; "stopping" meanwhile, with its 409s), delete, and the 409s.
// 5. Limits: kept, changed field by field, refused out of range; on a host with cgroups the
//    running VM's process is in the cgroups its status lists, with the limits in their files,
//    changed at once by a PATCH, and the cgroups go with the process. A second gureumd, kept
//    from the host's cgroups (where the host lets the test: a mount namespace), refuses to start
//    a VM with limits and to set them (409), and runs one without; its long --run-dir shows
//    whether each VM gets a socket path of its own (or its create is refused).
// 5b. The event stream: two streams (every VM's, one VM's) answer at once with
//    application/x-ndjson; a VM's created, started, ended (a kill -9, with how), restarted (a
//    new pid), changed, stopping, ended and deleted arrive in order with seq going up by one,
//    each line an Event of the document; the other VM's stream has its own events only.
// 6. Bad requests of every kind, each followed by a check that nothing changed (GET /vms and
//    GET /daemon): malformed JSON, wrong types, unknown fields, duplicate keys, content types,
//    bodies over 64 KiB, bodies where none is taken, bad names, query strings, wrong methods,
//    unknown paths, requests that are not HTTP.
// 7. The connection limit: beside 32 idle connections every operation gets 503 and does
//    nothing; the last of the 32 is still served; the API answers again once they close.
// 8. gureum vm --json prints what the API answers.
// One line per check; a summary; exit status 1 on any failure.
import http from 'node:http';
import net from 'node:net';
import { JSON_TYPE, METHODS, bodyConforms, escape, loadDocument, reporter, request, sleep } from './contract_common.mjs';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`daemon_contract.mjs: ${name} is not set (run it through daemon_contract.sh)`);
    process.exit(2);
  }
  return value;
};
const GUREUM = env('GUREUM');
const DOC_FILE = env('API_DOC');
const SOCK = env('SOCK');
const WORK = env('WORK');
const STATE_DIR = env('STATE_DIR');
const RUN_DIR = env('RUN_DIR');
const DAEMON_PID = Number(env('DAEMON_PID'));
const IDLE_KERNEL = env('IDLE_KERNEL');
// A second gureumd, with a --run-dir long enough that RUN_DIR/vms/NAME.sock of a 48-character
// name is over the 107 bytes of a unix socket's path; without cgroups where the host lets the
// test hide them from it (NOCG=1: a mount namespace with a tmpfs on /sys/fs/cgroup).
const SOCK2 = env('SOCK2');
const RUN_DIR2 = env('RUN_DIR2');
const NOCG = process.env.NOCG === '1';
const PREFIX = '/api/v1';
const NODE_SECONDS = Number(process.env.NODE_SECONDS || 240);
setTimeout(() => {
  console.log(`FAIL the requests did not end within ${NODE_SECONDS} s (NODE_SECONDS)`);
  process.exit(1);
}, NODE_SECONDS * 1000).unref();
const IDLE_ARGS = ['--accel', 'emu', '--kernel', IDLE_KERNEL, '--memory', '16M'];
const MI = 1 << 20;
const MAX_CLIENTS = 32;

// Documented statuses no request of this test can bring about, with the reason. (Some depend
// on the host's cgroups: added once GET /daemon said which.)
const UNREACHABLE = [
  { path: '*', method: '*', status: '500',
    reason: 'only when gureumd runs out of memory or the host refuses it its database, a process or a cgroup' },
];

// Checks that fail because of a known bug in the server, the document being right: each is
// reported as "xfail" and does not fail the run; one that passes ("xpass") fails it, so that
// the entry is removed once the bug is fixed.
const KNOWN_SERVER_BUGS = [];

const { ok, fail, check, counts, summary } = reporter(KNOWN_SERVER_BUGS);
const nowS = () => Date.now() / 1000;

// ---- the document ---------------------------------------------------------------------------

const { doc, ajv, validatorFor, triples, operations, templateOf, documentedResponse, requestSchemaPointer } =
  await loadDocument(DOC_FILE, 'https://gureum.invalid/api/daemon.yaml', { check });
const schemaValid = (pointer, value) => validatorFor(pointer)(value);
const nameValid = (name) => schemaValid('/components/schemas/VmName', name);

// ---- HTTP on the unix socket ------------------------------------------------------------------

const api = (method, path, { sock = SOCK, ...options } = {}) => request(sock, method, PREFIX + path, options);

// Every process a VM status showed (pid -> its start time, which tells it from a later process
// that gets the pid): none may be left at the end.
const pidsSeen = new Map();
function startTime(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return null;
  }
}
function notePids(json) {
  for (const vm of Array.isArray(json?.vms) ? json.vms : [json])
    if (typeof vm?.state === 'string' && Number.isInteger(vm.pid) && !pidsSeen.get(vm.pid)?.start)
      pidsSeen.set(vm.pid, { start: startTime(vm.pid), name: vm.name });
}
const stillThere = (pid, { start }) => start !== null && alive(pid) && startTime(pid) === start;

// A request to gureumd whose reply is checked against the document; returns the reply.
async function call(label, method, path, { expect, absolute, schemaBad, sock = SOCK, ...options } = {}) {
  let res;
  try {
    res = await request(sock, method, absolute ? path : PREFIX + path, options);
  } catch (e) {
    fail(label, `${method} ${path}: ${e.message}`);
    return null;
  }
  notePids(res.json);
  conform(label, method, absolute ? null : path, res, expect);
  if (absolute) return res;
  // A good body sent must be valid for the document; a schema-level bad one invalid.
  const template = templateOf(path.split('?')[0]);
  const reqPointer = template && requestSchemaPointer(template, method);
  let sent = options.body;
  if (typeof sent === 'string') try { sent = JSON.parse(sent); } catch { sent = undefined; }
  if (reqPointer && sent !== undefined && sent !== null && typeof sent === 'object' && !Buffer.isBuffer(sent)) {
    const valid = schemaValid(reqPointer, sent);
    if (res.status >= 200 && res.status < 300 && !valid)
      fail(`${label} (request schema)`, `the server took ${JSON.stringify(sent).slice(0, 200)} but the document refuses it: ` +
        ajv.errorsText(validatorFor(reqPointer).errors));
    if (schemaBad && valid)
      fail(`${label} (request schema)`, `the document accepts ${JSON.stringify(sent).slice(0, 200)}, which the server refuses with ${res.status}`);
    if (schemaBad && !valid) ok(`${label} (request schema): the document refuses it too`);
  }
  return res;
}

// The reply is one the document lists for the path and method, with that body.
function conform(label, method, path, res, expect) {
  const what = `${method} ${path ?? '(outside the API)'} -> ${res.status}`;
  if (expect !== undefined && res.status !== expect) {
    fail(label, `${what}, expected ${expect} (${res.text.slice(0, 300)})`);
    return false;
  }
  const template = path === null ? null : templateOf(path.split('?')[0]);
  let response, schemaPointer;
  const outside = !template || !doc.paths[template][method.toLowerCase()];
  const shared = (name) => {
    response = doc.components.responses[name];
    schemaPointer = `/components/responses/${name}/content/${JSON_TYPE}/schema`;
  };
  if (outside && (res.status === 404 || res.status === 413 || res.status === 503 ||
    (res.status === 400 && path?.includes('?')))) {
    // No operation: the shared response (a connection too many and a body over 64 KiB are
    // refused before routing, and a query string before the path is looked at).
    shared({ 404: 'NotFound', 413: 'TooLarge', 400: 'BadRequest', 503: 'Unavailable' }[res.status]);
  } else if (res.status === 405) {
    shared('MethodNotAllowed');
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
    if (outside) {
      fail(label, `${what}: no such operation in the document (${res.text.slice(0, 200)})`);
      return false;
    }
    ({ response, schemaPointer } = documentedResponse(template, method, String(res.status)));
    if (!response) {
      fail(label, `${what}: status not documented for ${method} ${template} (${res.text.slice(0, 200)})`);
      return false;
    }
    // A success names a VM only by a name the document allows.
    const name = template.includes('{name}') ? path.split('/')[2] : null;
    if (res.status < 300 && name !== null && !nameValid(name)) {
      fail(label, `${what}: a success for "${name}", which the document says cannot be a name`);
      return false;
    }
    const key = `${method} ${template} ${res.status}`;
    triples.set(key, triples.get(key) + 1);
  }
  if (!bodyConforms({ fail, validatorFor, ajv }, label, what, response, schemaPointer, res)) return false;
  ok(`${label}: ${what}${res.status >= 400 && res.json?.error ? ` (${res.json.error.slice(0, 100)})` : ''}`);
  return true;
}

// ---- what an operator sees ----------------------------------------------------------------------

// Everything the API says of the VMs and the daemon's counts: a 4xx must not change it.
async function stateOf(sock = SOCK) {
  const list = await api('GET', '/vms', { sock }).catch((e) => ({ text: e.message }));
  const daemon = await api('GET', '/daemon', { sock }).catch(() => null);
  return JSON.stringify({ vms: list.json ?? list.text, count: daemon?.json?.vms, running: daemon?.json?.running });
}

async function bad(label, method, path, options = {}) {
  const before = await stateOf(options.sock);
  await call(`bad: ${label}`, method, path, options);
  const after = await stateOf(options.sock);
  check(`bad: ${label}: nothing changed`, before === after, `before ${before}, after ${after}`);
}

async function getVm(name) {
  return (await api('GET', `/vms/${name}`).catch(() => null))?.json;
}

// Polls the VM's status until `want` holds (or `seconds` pass); the last status either way.
async function waitVm(name, want, seconds = 10) {
  let vm = null;
  for (let i = 0; i < seconds * 20; i++) {
    vm = await getVm(name);
    if (vm && want(vm)) return vm;
    await sleep(50);
  }
  return vm;
}

function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}
const readText = (file) => { try { return readFileSync(file, 'utf8'); } catch { return ''; } };
const countIn = (file, text) => readText(file).split(text).length - 1;
async function waitCount(file, text, count, seconds = 15) {
  for (let i = 0; i < seconds * 20 && countIn(file, text) < count; i++) await sleep(50);
  return countIn(file, text) >= count;
}
const GUEST_UP = 'idle guest up';
const BUTTON = 'the power button is pressed'; // the VMM's line when SIGPWR presses it

function run(file, args) {
  return new Promise((resolve) => execFile(file, args, { timeout: 30000 },
    (error, stdout, stderr) => resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr })));
}
const vmCli = (args) => run(GUREUM, ['vm', '--socket', SOCK, ...args]);

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const without = (o, ...keys) => Object.fromEntries(Object.entries(o ?? {}).filter(([k]) => !keys.includes(k)));
const byteOrder = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

let CGROUPS = 'none';

// ---- 1. the daemon, creating and listing ------------------------------------------------------

async function createAndList() {
  const version = (await run(GUREUM, ['version'])).stdout.trim().split(/\s+/)[1];
  const d = await call('daemon', 'GET', '/daemon', { expect: 200 });
  check('daemon: its pid, directories and gureum\'s version; no VMs', d?.json?.pid === DAEMON_PID &&
    d.json.state_dir === STATE_DIR && d.json.run_dir === RUN_DIR && d.json.version === version &&
    d.json.vms === 0 && d.json.running === 0, `${d?.text} (gureum version ${version}, pid ${DAEMON_PID})`);
  CGROUPS = d?.json?.cgroups ?? 'none';
  console.log(`info the host gives gureumd cgroups: ${CGROUPS}`);
  const empty = await call('list with no VMs', 'GET', '/vms', { expect: 200 });
  check('list: empty', same(empty?.json, { vms: [] }), empty?.text);

  const t0 = Math.floor(nowS());
  const a = await call('create alpha', 'POST', '/vms', { body: { name: 'alpha', args: IDLE_ARGS }, expect: 201 });
  const t1 = Math.ceil(nowS());
  const v = a?.json;
  check('create: stopped, its args as given, restart on-failure, no autostart, 0 restarts, no limits, no pid or last_exit',
    v?.name === 'alpha' && v.state === 'stopped' && same(v.args, IDLE_ARGS) && v.restart === 'on-failure' &&
    v.autostart === false && v.restarts === 0 && same(v.limits, L(0, 0, 0)) && !('pid' in v) &&
    !('last_exit' in v) && !('cgroups' in v), a?.text);
  check('create: "created" is the time of the request', v?.created >= t0 && v.created <= t1, `${v?.created} not in ${t0}-${t1}`);
  check('create: its socket in RUN_DIR/vms, its log in STATE_DIR/logs', v?.api_socket === `${RUN_DIR}/vms/alpha.sock` &&
    v.log === `${STATE_DIR}/logs/alpha.log`, a?.text);
  check('create: nothing runs (no log written, no socket)', v && !existsSync(v.log) && !existsSync(v.api_socket), 'a file is there');
  const g = await call('get alpha', 'GET', '/vms/alpha', { expect: 200 });
  check('get: the VM as created', same(g?.json, v), `${g?.text} vs ${a?.text}`);
  await bad('create alpha again: the name is taken', 'POST', '/vms',
    { body: { name: 'alpha', args: ['--memory', '32M'], restart: 'never' }, expect: 409 });

  // Names at their limits; listed in byte order whatever the order of creation; case counts.
  const long = 'N' + 'abcdefghij'.repeat(5).slice(0, 47);
  const defs = [
    { name: 'zeta-9', args: IDLE_ARGS, restart: 'always' },
    { name: 'Alpha', args: [], restart: 'never', autostart: true },
    { name: long, args: ['--cpus', '2'], limits: {} },
    { name: '0.x', args: ['x'.repeat(4096), '--namespace', '--incoming-x', 'a b', 'é'], restart: 'on-failure' },
    { name: '_u', args: IDLE_ARGS, limits: { cpu_weight: 1 } },
  ];
  for (const def of defs) {
    const r = await call(`create ${def.name.slice(0, 20)} (${def.restart ?? 'default policy'})`, 'POST', '/vms', { body: def, expect: 201 });
    check(`create ${def.name.slice(0, 20)}: as defined`, r?.json?.name === def.name && same(r.json.args, def.args) &&
      r.json.restart === (def.restart ?? 'on-failure') && r.json.autostart === (def.autostart ?? false) &&
      r.json.state === 'stopped', r?.text);
  }
  const list = await call('list', 'GET', '/vms', { expect: 200 });
  const names = list?.json?.vms?.map((x) => x.name);
  const want = ['alpha', ...defs.map((x) => x.name)].sort(byteOrder);
  check('list: every VM, ordered by name (byte order: digits, upper case, "_", lower case)', same(names, want),
    `${JSON.stringify(names)}, expected ${JSON.stringify(want)}`);
  let allSame = !!list?.json;
  for (const x of list?.json?.vms ?? []) allSame &&= same(x, await getVm(x.name));
  check('list: each entry is the VM\'s GET', allSame, list?.text.slice(0, 300));
  const d2 = await call('daemon with 6 VMs', 'GET', '/daemon', { expect: 200 });
  check('daemon: 6 VMs, none running', d2?.json?.vms === 6 && d2.json.running === 0, d2?.text);
  for (const def of defs.filter((x) => x.name !== 'zeta-9')) {
    await call(`delete ${def.name.slice(0, 20)}`, 'DELETE', `/vms/${def.name}`, { expect: 204 });
    await call(`get ${def.name.slice(0, 20)} after its delete`, 'GET', `/vms/${def.name}`, { expect: 404 });
  }
  await call('delete zeta-9', 'DELETE', '/vms/zeta-9', { expect: 204 });
  const left = await call('list after the deletes', 'GET', '/vms', { expect: 200 });
  check('list: alpha alone is left', same(left?.json?.vms?.map((x) => x.name), ['alpha']), left?.text);
}

// ---- 2. start, the restart policies, stop, delete -----------------------------------------------

async function lifecycle() {
  const log = `${STATE_DIR}/logs/alpha.log`;
  const sock = `${RUN_DIR}/vms/alpha.sock`;
  const s = await call('start alpha', 'POST', '/vms/alpha/start', { expect: 200 });
  const pid = s?.json?.pid;
  check('start: running, with the pid of a live process', s?.json?.state === 'running' && pid > 0 && alive(pid), s?.text);
  check('start: the guest runs (its console says so in the VM\'s log)', await waitCount(log, GUEST_UP, 1), readText(log).slice(-300));
  const argv = cmdline(pid);
  const pairs = (a) => a.slice(0, -1).map((x, i) => `${x} ${a[i + 1]}`);
  check('start: the process is gureum run with the VM\'s args, --name alpha and --api-socket (its status\'s)',
    same(argv.slice(0, 2 + IDLE_ARGS.length), [GUREUM, 'run', ...IDLE_ARGS]) && pairs(argv).includes('--name alpha') &&
    pairs(argv).includes(`--api-socket ${s?.json?.api_socket}`), JSON.stringify(argv));
  let own = null;
  for (let i = 0; i < 100 && own?.status !== 200; i++) {
    own = await request(sock, 'GET', '/api/v1/vm').catch(() => null);
    if (own?.status !== 200) await sleep(50);
  }
  check('start: the VM\'s own API answers on its api_socket, with the name "alpha"', own?.json?.name === 'alpha' &&
    own.json.state === 'running', own?.text ?? 'no answer');
  const d = await call('daemon with alpha running', 'GET', '/daemon', { expect: 200 });
  check('daemon: 1 VM, 1 running', d?.json?.vms === 1 && d.json.running === 1, d?.text);
  await bad('start alpha while it runs', 'POST', '/vms/alpha/start', { expect: 409 });
  await bad('delete alpha while it runs', 'DELETE', '/vms/alpha', { expect: 409 });

  // on-failure: a process killed is started again.
  process.kill(pid, 'SIGKILL');
  const again = await waitVm('alpha', (x) => x.restarts === 1 && x.state === 'running' && x.pid !== pid);
  notePids(again);
  const g1 = await call('alpha after kill -9 (on-failure)', 'GET', '/vms/alpha', { expect: 200 });
  check('on-failure: killed, started again with a new pid, 1 restart, the kill said', g1?.json?.state === 'running' &&
    g1.json.restarts === 1 && g1.json.pid !== pid && alive(g1.json.pid) && g1.json.last_exit === 'killed by signal 9 (Killed)',
    g1?.text);
  check('on-failure: the new process\'s guest runs', await waitCount(log, GUEST_UP, 2), readText(log).slice(-300));
  // never: a process killed leaves the VM failed.
  const p = await call('patch alpha restart never', 'PATCH', '/vms/alpha', { body: { restart: 'never' }, expect: 200 });
  check('patch: the policy changed, nothing else', p?.json?.restart === 'never' &&
    same(without(p.json, 'restart'), without(g1?.json, 'restart')), `${p?.text} vs ${g1?.text}`);
  const pid2 = g1?.json?.pid;
  if (pid2) process.kill(pid2, 'SIGKILL');
  await waitVm('alpha', (x) => x.state === 'failed');
  const g2 = await call('alpha after kill -9 (never)', 'GET', '/vms/alpha', { expect: 200 });
  check('never: killed, left failed: no pid, still 1 restart, the kill said', g2?.json?.state === 'failed' &&
    !('pid' in g2.json) && g2.json.restarts === 1 && g2.json.last_exit === 'killed by signal 9 (Killed)' && !alive(pid2), g2?.text);
  const d2 = await call('daemon with alpha failed', 'GET', '/daemon', { expect: 200 });
  check('daemon: 0 running', d2?.json?.running === 0, d2?.text);
  const s2 = await call('start the failed alpha', 'POST', '/vms/alpha/start', { expect: 200 });
  check('start: a failed VM runs again, its restarts back to 0', s2?.json?.state === 'running' && s2.json.restarts === 0 &&
    s2.json.last_exit === 'killed by signal 9 (Killed)', s2?.text);
  const auto = await call('patch alpha autostart true', 'PATCH', '/vms/alpha', { body: { autostart: true }, expect: 200 });
  check('patch: autostart on, nothing else', auto?.json?.autostart === true &&
    same(without(auto.json, 'autostart'), without(s2?.json, 'autostart')), `${auto?.text} vs ${s2?.text}`);
  const unauto = await call('patch alpha autostart false', 'PATCH', '/vms/alpha', { body: { autostart: false }, expect: 200 });
  check('patch: autostart off again', unauto?.json?.autostart === false && same(unauto.json, s2?.json), unauto?.text);
  const same0 = await call('patch alpha with {}', 'PATCH', '/vms/alpha', { body: {}, expect: 200 });
  check('patch {}: nothing changed', same(same0?.json, await getVm('alpha')) && same(same0?.json, s2?.json), same0?.text);
  await call('patch alpha restart always', 'PATCH', '/vms/alpha', { body: { restart: 'always' }, expect: 200 });
  check('start: the guest runs', await waitCount(log, GUEST_UP, 3), readText(log).slice(-300));

  // stop with a timeout of 1 s: the idle guest ignores the power button, so SIGTERM after 1 s.
  let buttons = countIn(log, BUTTON);
  let t = Date.now();
  const st = await call('stop alpha, timeout 1', 'POST', '/vms/alpha/stop', { body: { timeout: 1 }, expect: 200 });
  let took = Date.now() - t;
  check('stop: answered once the process ended: stopped, no pid, ended by SIGTERM (not SIGKILL)', st?.json?.state === 'stopped' &&
    !('pid' in st.json) && !alive(s2?.json?.pid) && /^exited with status \d+$|^killed by signal 15 /.test(st.json.last_exit), st?.text);
  check('stop: the power button first, SIGTERM after the 1 s (not at once, not after SIGTERM\'s 10 s)',
    countIn(log, BUTTON) === buttons + 1 && took >= 1000 && took < 9000, `${took} ms; ${readText(log).slice(-300)}`);
  check('stop: the VM\'s API socket is gone with it', !existsSync(sock), `${sock} is there`);
  await sleep(1500);
  const g3 = await call('alpha 1.5 s after its stop (restart always)', 'GET', '/vms/alpha', { expect: 200 });
  check('stop: an operator\'s stop is not undone by the policy (always)', g3?.json?.state === 'stopped' &&
    g3.json.restarts === 0 && !('pid' in g3.json), g3?.text);
  t = Date.now();
  const st2 = await call('stop alpha when stopped (no body)', 'POST', '/vms/alpha/stop', { expect: 200 });
  check('stop: a stopped VM is answered at once (not after the 30 s), stopped', st2?.json?.state === 'stopped' && Date.now() - t < 5000 &&
    same(st2.json, g3?.json), st2?.text);
  await call('stop alpha when stopped, timeout 3600', 'POST', '/vms/alpha/stop', { body: { timeout: 3600 }, expect: 200 });
  await call('stop alpha when stopped, timeout 0, force false', 'POST', '/vms/alpha/stop',
    { body: { timeout: 0, force: false }, expect: 200 });

  // A stop under way: "stopping", and what it refuses meanwhile.
  await call('start alpha (for a slow stop)', 'POST', '/vms/alpha/start', { expect: 200 });
  check('start: the guest runs', await waitCount(log, GUEST_UP, 4), readText(log).slice(-300));
  buttons = countIn(log, BUTTON);
  t = Date.now();
  const slow = call('stop alpha, timeout 6 (others are answered meanwhile)', 'POST', '/vms/alpha/stop',
    { body: { timeout: 6 }, expect: 200, timeout: 30000 });
  const stopping = await waitVm('alpha', (x) => x.state === 'stopping', 3);
  if (check('stop: the VM is "stopping" meanwhile, with its pid', stopping?.state === 'stopping' && alive(stopping.pid),
    JSON.stringify(stopping))) {
    await call('alpha while stopping', 'GET', '/vms/alpha', { expect: 200 });
    await bad('stop alpha while a stop is under way', 'POST', '/vms/alpha/stop', { body: { force: true }, expect: 409 });
    await bad('start alpha while stopping', 'POST', '/vms/alpha/start', { expect: 409 });
    await bad('delete alpha while stopping', 'DELETE', '/vms/alpha', { expect: 409 });
    const ds = await call('daemon while alpha stops', 'GET', '/daemon', { expect: 200 });
    check('daemon: a stopping VM is running (it has a process)', ds?.json?.running === 1, ds?.text);
    const ps = await call('patch alpha restart on-failure while stopping', 'PATCH', '/vms/alpha',
      { body: { restart: 'on-failure' }, expect: 200 });
    check('patch while stopping: taken, still stopping', ps?.json?.restart === 'on-failure' && ps.json.state === 'stopping', ps?.text);
  }
  const sl = await slow;
  took = Date.now() - t;
  check('stop timeout 6: stopped after the 6 s, the button pressed once', sl?.json?.state === 'stopped' && took >= 6000 &&
    took < 15000 && countIn(log, BUTTON) === buttons + 1, `${took} ms: ${sl?.text}`);

  // force: SIGTERM at once, no power button.
  await call('start alpha (for a forced stop)', 'POST', '/vms/alpha/start', { expect: 200 });
  check('start: the guest runs', await waitCount(log, GUEST_UP, 5), readText(log).slice(-300));
  buttons = countIn(log, BUTTON);
  t = Date.now();
  const sf = await call('stop alpha, force (timeout 3600)', 'POST', '/vms/alpha/stop',
    { body: { force: true, timeout: 3600 }, expect: 200 });
  took = Date.now() - t;
  check('stop force: stopped at once, without the power button', sf?.json?.state === 'stopped' && took < 3000 &&
    countIn(log, BUTTON) === buttons, `${took} ms, ${countIn(log, BUTTON) - buttons} presses: ${sf?.text}`);

  // A VM whose process cannot start: failed (never), given up after 5 restarts (on-failure).
  const missing = ['--accel', 'emu', '--kernel', `${WORK}/no-such-kernel`];
  await call('create broken (restart never)', 'POST', '/vms', { body: { name: 'broken', args: missing, restart: 'never' }, expect: 201 });
  const sb = await call('start broken', 'POST', '/vms/broken/start', { expect: 200 });
  check('start broken: started (it ends on its own)', ['running', 'failed'].includes(sb?.json?.state), sb?.text);
  await waitVm('broken', (x) => x.state === 'failed');
  const gb = await call('broken once its process ended', 'GET', '/vms/broken', { expect: 200 });
  check('broken: failed, its exit status said, not restarted', gb?.json?.state === 'failed' &&
    /^exited with status [1-9]\d*$/.test(gb.json.last_exit) && gb.json.restarts === 0, gb?.text);
  check('broken: its log says what is wrong', readText(`${STATE_DIR}/logs/broken.log`).includes('no-such-kernel'),
    readText(`${STATE_DIR}/logs/broken.log`).slice(-300));
  const sbs = await call('stop the failed broken (no body)', 'POST', '/vms/broken/stop', { expect: 200 });
  check('stop: a failed VM becomes stopped, its last_exit kept', sbs?.json?.state === 'stopped' &&
    sbs.json.last_exit === gb?.json?.last_exit, sbs?.text);
  await call('delete broken', 'DELETE', '/vms/broken', { expect: 204 });
  await call('create giveup (restart on-failure)', 'POST', '/vms', { body: { name: 'giveup', args: missing }, expect: 201 });
  await call('start giveup', 'POST', '/vms/giveup/start', { expect: 200 });
  await waitVm('giveup', (x) => x.state === 'failed' && x.restarts === 5, 20);
  const gg = await call('giveup once given up', 'GET', '/vms/giveup', { expect: 200 });
  check('on-failure: restarted 5 times, then left failed with the reason', gg?.json?.state === 'failed' &&
    gg.json.restarts === 5 && /not again/.test(gg.json.last_exit), gg?.text);
  await call('delete the failed giveup', 'DELETE', '/vms/giveup', { expect: 204 });

  // delete: gone from the API, its log stays; the name can be taken again.
  const created = (await getVm('alpha'))?.created;
  await call('delete alpha', 'DELETE', '/vms/alpha', { expect: 204 });
  await call('get alpha after its delete', 'GET', '/vms/alpha', { expect: 404 });
  const after = await call('list after the delete', 'GET', '/vms', { expect: 200 });
  check('delete: no VM listed, the log stays', same(after?.json, { vms: [] }) && countIn(log, GUEST_UP) === 5, after?.text);
  await bad('delete alpha again', 'DELETE', '/vms/alpha', { expect: 404 });
  await bad('start the deleted alpha', 'POST', '/vms/alpha/start', { expect: 404 });
  await bad('stop the deleted alpha', 'POST', '/vms/alpha/stop', { body: { force: true }, expect: 404 });
  await bad('patch the deleted alpha', 'PATCH', '/vms/alpha', { body: { restart: 'never' }, expect: 404 });
  const re = await call('create alpha again', 'POST', '/vms', { body: { name: 'alpha', args: IDLE_ARGS }, expect: 201 });
  check('create again: a new VM (default policy, no restarts, no last_exit)', re?.json?.restart === 'on-failure' &&
    re.json.restarts === 0 && !('last_exit' in re.json) && re.json.created >= created, re?.text);
  await call('delete the new alpha', 'DELETE', '/vms/alpha', { expect: 204 });
}

// ---- 3. limits --------------------------------------------------------------------------------

// The limits as the API shows them; `io` gives the I/O limits other than 0.
const L = (cpu_percent, cpu_weight, memory_max, io = {}) =>
  ({ cpu_percent, cpu_weight, memory_max, io_read_bps: 0, io_write_bps: 0, io_read_iops: 0, io_write_iops: 0, ...io });
const IO_SET = { io_read_bps: 10 * MI, io_write_bps: 65536, io_read_iops: 500, io_write_iops: 10 };

// The limits as the VM's cgroup files have them, in the API's terms (null: not readable).
function cgroupLimits(dirs) {
  const read = (file) => {
    for (const dir of dirs) if (existsSync(`${dir}/${file}`)) return readText(`${dir}/${file}`).trim();
    return null;
  };
  if (CGROUPS === 'v2') {
    const [quota, period] = (read('cpu.max') ?? '').split(' ');
    const memory = read('memory.max');
    return { cpu_percent: quota === 'max' ? 0 : Number(quota) * 100 / Number(period), cpu_weight: Number(read('cpu.weight')),
      memory_max: memory === 'max' ? 0 : Number(memory) };
  }
  const quota = Number(read('cpu.cfs_quota_us'));
  const memory = Number(read('memory.limit_in_bytes'));
  return { cpu_percent: quota < 0 ? 0 : quota * 100 / Number(read('cpu.cfs_period_us')), cpu_shares: Number(read('cpu.shares')),
    memory_max: memory >= 2 ** 62 ? 0 : memory };
}
// What the files should say for `limits` (v2's default weight is 100; v1 has shares, 1024 for 100).
function expectedFiles(limits) {
  if (CGROUPS === 'v2') return { ...limits, cpu_weight: limits.cpu_weight || 100 };
  return { cpu_percent: limits.cpu_percent, cpu_shares: Math.max(2, Math.floor((limits.cpu_weight || 100) * 1024 / 100)),
    memory_max: limits.memory_max };
}

async function limits() {
  const c = await call('create lim with limits (memory_max as "512M")', 'POST', '/vms',
    { body: { name: 'lim', args: IDLE_ARGS, limits: { cpu_percent: 150, cpu_weight: 200, memory_max: '512M' } }, expect: 201 });
  check('create: the limits kept, 512M in bytes', same(c?.json?.limits, L(150, 200, 512 * MI)), c?.text);
  const steps = [
    ['cpu_weight alone', { limits: { cpu_weight: 50 } }, L(150, 50, 512 * MI)],
    ['memory_max in bytes', { limits: { memory_max: 256 * MI } }, L(150, 50, 256 * MI)],
    ['an empty limits object: nothing changes', { limits: {} }, L(150, 50, 256 * MI)],
    ['the policy and a limit at once', { restart: 'never', limits: { cpu_percent: 25 } }, L(25, 50, 256 * MI)],
    ['the largest (cpu_percent 100000, cpu_weight 10000, memory_max "1TiB")',
      { limits: { cpu_percent: 100000, cpu_weight: 10000, memory_max: '1TiB' } }, L(100000, 10000, 1024 * 1024 * MI)],
    ['the smallest that limit (1, 1, 16 MiB)', { limits: { cpu_percent: 1, cpu_weight: 1, memory_max: 16 * MI } }, L(1, 1, 16 * MI)],
    ['I/O limits ("10M", the smallest: 64 KiB/s and 10 operations/s)',
      { limits: { io_read_bps: '10M', io_write_bps: 65536, io_read_iops: 500, io_write_iops: 10 } }, L(1, 1, 16 * MI, IO_SET)],
    ['all lifted (0)', { limits: { cpu_percent: 0, cpu_weight: 0, memory_max: '0', io_read_bps: 0, io_write_bps: '0',
      io_read_iops: 0, io_write_iops: 0 } }, L(0, 0, 0)],
  ];
  for (const [what, body, want] of steps) {
    const r = await call(`limits: ${what}`, 'PATCH', '/vms/lim', { body, expect: 200 });
    check(`limits: ${what}: the reply`, same(r?.json?.limits, want), `${r?.text}, expected ${JSON.stringify(want)}`);
    check(`limits: ${what}: read back`, same((await getVm('lim'))?.limits, want), JSON.stringify(await getVm('lim')));
  }
  const p = await getVm('lim');
  check('limits: the policy changed with them', p?.restart === 'never', JSON.stringify(p));
  await call('limits: back to 150, 200, 512M', 'PATCH', '/vms/lim',
    { body: { restart: 'on-failure', limits: { cpu_percent: 150, cpu_weight: 200, memory_max: '512m' } }, expect: 200 });

  // Refused: nothing changed, also not the policy given beside them; a create makes no VM.
  const badLimits = [{ cpu_percent: -1 }, { cpu_percent: 1.5 }, { cpu_percent: '150' }, { cpu_percent: null },
    { cpu_percent: 100001 }, { cpu_weight: 10001 }, { cpu_weight: -1 }, { cpu_weight: true }, { memory_max: -1 },
    { memory_max: 'lots' }, { memory_max: '1.5G' }, { memory_max: ' 8M' }, { memory_max: '-5M' }, { memory_max: true },
    { memory_max: null }, { memory_max: 1 }, { memory_max: 16 * MI - 1 }, { memory_max: 2 ** 62 + 2 ** 11 },
    { memory_max: [1] }, { cpus: 2 }, { memory: '1G' }, { cpu_percent: 10, 'cpu-weight': 1 }, { io_read_bps: 'fast' },
    { io_read_bps: -1 }, { io_write_bps: 2 ** 50 + 1 }, { io_read_iops: '500' }, { io_write_iops: -1 }, { io_write_iops: 1.5 },
    { io_read_bps: '1.5M' }, { io_max: 1 }];
  for (const lim of badLimits) {
    await bad(`limits ${JSON.stringify(lim)} in a PATCH (with a policy)`, 'PATCH', '/vms/lim',
      { body: { restart: 'always', limits: lim }, expect: 400, schemaBad: true });
    await bad(`limits ${JSON.stringify(lim)} in a create`, 'POST', '/vms',
      { body: { name: 'lim2', args: IDLE_ARGS, limits: lim }, expect: 400, schemaBad: true });
  }
  for (const lim of [[], 5, null, 'none']) // "limits" itself not an object
    await bad(`limits ${JSON.stringify(lim)}`, 'PATCH', '/vms/lim', { body: { limits: lim }, expect: 400, schemaBad: true });
  // Under the smallest I/O limits the document allows: the server refuses them.
  await bad('limits io_read_bps 1000 (under 64 KiB/s)', 'PATCH', '/vms/lim', { body: { limits: { io_read_bps: 1000 } }, expect: 400 });
  await bad('limits io_write_iops 5 (under 10/s)', 'PATCH', '/vms/lim', { body: { limits: { io_write_iops: 5 } }, expect: 400 });
  // Below 16 MiB as text: the document cannot tell "15M" from "16M"; the server refuses it.
  await bad('limits memory_max "15M" (under 16 MiB)', 'PATCH', '/vms/lim', { body: { limits: { memory_max: '15M' } }, expect: 400 });
  await bad('limits memory_max "17179869184T" (over 2^62)', 'PATCH', '/vms/lim',
    { body: { limits: { memory_max: '17179869184T' } }, expect: 400 });

  if (CGROUPS === 'none') {
    // Limits cannot be enforced: a VM with them does not start, none can be set.
    await bad('start lim with limits on a host without cgroups', 'POST', '/vms/lim/start', { expect: 409 });
    await bad('limits set on a host without cgroups', 'PATCH', '/vms/lim', { body: { limits: { cpu_weight: 300 } }, expect: 409 });
    const z = await call('limits all lifted on a host without cgroups', 'PATCH', '/vms/lim',
      { body: { limits: { cpu_percent: 0, cpu_weight: 0, memory_max: 0 } }, expect: 200 });
    const s = await call('start lim without limits on a host without cgroups', 'POST', '/vms/lim/start', { expect: 200 });
    check('no cgroups: a VM without limits runs, in no cgroup of ours', z && s?.json?.state === 'running' && !('cgroups' in s.json), s?.text);
    await call('stop lim', 'POST', '/vms/lim/stop', { body: { force: true }, expect: 200 });
    await call('delete lim', 'DELETE', '/vms/lim', { expect: 204 });
    return;
  }
  const s = await call('start lim', 'POST', '/vms/lim/start', { expect: 200 });
  const dirs = s?.json?.cgroups ?? [];
  const pid = s?.json?.pid;
  check('lim: the guest runs', await waitCount(`${STATE_DIR}/logs/lim.log`, GUEST_UP, 1), 'no "idle guest up"');
  const ioLimits = (await call('daemon', 'GET', '/daemon', { expect: 200 }))?.json?.io_limits?.enabled;
  const dirCount = CGROUPS === 'v2' ? 1 : ioLimits ? 3 : 2; // v1: cpu, memory and blkio
  check(`cgroups ${CGROUPS}: the running VM lists its cgroup directories (${dirCount})`,
    dirs.length === dirCount && dirs.every((dir) => dir.startsWith('/sys/fs/cgroup/')), s?.text);
  check('cgroups: its process is in each of them (cgroup.procs)', dirs.length > 0 &&
    dirs.every((dir) => readText(`${dir}/cgroup.procs`).split('\n').includes(String(pid))),
    dirs.map((dir) => `${dir}: ${readText(`${dir}/cgroup.procs`).trim()}`).join('; '));
  let files = cgroupLimits(dirs);
  check('cgroups: the limits are in the files (150% of a CPU, weight 200, 512 MiB)',
    same(files, expectedFiles(L(150, 200, 512 * MI))), `${JSON.stringify(files)}, expected ${JSON.stringify(expectedFiles(L(150, 200, 512 * MI)))}`);
  const running = [
    ['cpu_percent 50 and memory_max "256M"', { cpu_percent: 50, memory_max: '256M' }, L(50, 200, 256 * MI)],
    ['the largest (100000, 10000, "1T")', { cpu_percent: 100000, cpu_weight: 10000, memory_max: '1T' }, L(100000, 10000, 2 ** 40)],
    ['the smallest CPU limits (1, 1)', { cpu_percent: 1, cpu_weight: 1, memory_max: '1G' }, L(1, 1, 1024 * MI)],
    ['all lifted (0: no quota, the default weight, no memory limit)', { cpu_percent: 0, cpu_weight: 0, memory_max: 0 }, L(0, 0, 0)],
  ];
  for (const [what, lim, want] of running) {
    const r = await call(`limits while it runs: ${what}`, 'PATCH', '/vms/lim', { body: { limits: lim }, expect: 200 });
    files = cgroupLimits(dirs);
    check(`cgroups: ${what}: in the files at once`, same(r?.json?.limits, want) && same(files, expectedFiles(want)),
      `${JSON.stringify(files)}, expected ${JSON.stringify(expectedFiles(want))}; ${r?.text}`);
  }
  check('cgroups: the VM still runs, the same process', alive(pid) && (await getVm('lim'))?.pid === pid, `pid ${pid} is gone`);
  // A process the policy starts again is in the cgroups again, with the limits.
  await call('limits for the restart', 'PATCH', '/vms/lim', { body: { limits: { cpu_percent: 150, cpu_weight: 200, memory_max: '512M' } }, expect: 200 });
  process.kill(pid, 'SIGKILL');
  const again = await waitVm('lim', (x) => x.state === 'running' && x.restarts === 1 && x.pid !== pid);
  notePids(again);
  check('lim: the guest runs again', await waitCount(`${STATE_DIR}/logs/lim.log`, GUEST_UP, 2), 'no second "idle guest up"');
  const g = await call('lim after kill -9 (on-failure)', 'GET', '/vms/lim', { expect: 200 });
  files = cgroupLimits(dirs);
  check('cgroups: the restarted process is in the same cgroups, with the limits', g?.json?.restarts === 1 &&
    same(g.json.cgroups, dirs) && dirs.every((dir) => readText(`${dir}/cgroup.procs`).split('\n').includes(String(g.json.pid))) &&
    same(files, expectedFiles(L(150, 200, 512 * MI))), `${g?.text}; ${JSON.stringify(files)}`);
  const st = await call('stop lim', 'POST', '/vms/lim/stop', { body: { force: true }, expect: 200 });
  check('cgroups: none listed once stopped, and the directories are gone', st?.json && !('cgroups' in st.json) &&
    dirs.every((dir) => !existsSync(dir)), `${st?.text}; ${dirs.filter((dir) => existsSync(dir)).join(' ')}`);
  await call('delete lim', 'DELETE', '/vms/lim', { expect: 204 });
}

// ---- 3b. the second gureumd: no cgroups, a long run directory ---------------------------------------

async function secondDaemon() {
  const d = await call('second daemon', 'GET', '/daemon', { sock: SOCK2, expect: 200 });
  check('second daemon: its run directory, no VMs', d?.json?.run_dir === RUN_DIR2 && d.json.vms === 0, d?.text);
  if (NOCG) {
    const opts = { sock: SOCK2 };
    check('no cgroups: GET /daemon says "none"', d?.json?.cgroups === 'none', d?.text);
    const c = await call('no cgroups: create nl with limits (kept, not checked)', 'POST', '/vms',
      { ...opts, body: { name: 'nl', args: IDLE_ARGS, limits: { cpu_weight: 300 } }, expect: 201 });
    check('no cgroups: the limits are kept', same(c?.json?.limits, L(0, 300, 0)), c?.text);
    await bad('no cgroups: start nl with limits', 'POST', '/vms/nl/start', { ...opts, expect: 409 });
    await bad('no cgroups: limits set (with a policy beside them)', 'PATCH', '/vms/nl',
      { ...opts, body: { restart: 'never', limits: { memory_max: '1G' } }, expect: 409 });
    const z = await call('no cgroups: limits all lifted', 'PATCH', '/vms/nl',
      { ...opts, body: { limits: { cpu_percent: 0, cpu_weight: 0, memory_max: '0' } }, expect: 200 });
    check('no cgroups: 0 may be set', same(z?.json?.limits, L(0, 0, 0)), z?.text);
    const s = await call('no cgroups: start nl without limits', 'POST', '/vms/nl/start', { ...opts, expect: 200 });
    check('no cgroups: a VM without limits runs, in no cgroup of ours', s?.json?.state === 'running' && !('cgroups' in s.json) &&
      await waitCount(s.json.log, GUEST_UP, 1), s?.text);
    await bad('no cgroups: limits set while it runs', 'PATCH', '/vms/nl', { ...opts, body: { limits: { cpu_percent: 50 } }, expect: 409 });
    await call('no cgroups: stop nl', 'POST', '/vms/nl/stop', { ...opts, body: { force: true }, expect: 200 });
    await call('no cgroups: delete nl', 'DELETE', '/vms/nl', { ...opts, expect: 204 });
  } else {
    console.log(`info the second gureumd has cgroups ${d?.json?.cgroups} (this host does not let the test hide them): ` +
      'the checks of a host without cgroups are not made');
  }
  // Two 48-character names that differ in their last character, beside a long run directory.
  const long = 'L' + 'abcdefghij'.repeat(5).slice(0, 47);
  const twin = `${long.slice(0, 47)}Z`;
  const made = [];
  for (const name of [long, twin]) {
    const r = await request(SOCK2, 'POST', `${PREFIX}/vms`, { body: { name, args: IDLE_ARGS } }).catch(() => null);
    if (!r) continue;
    conform(`create ${name.slice(0, 12)}...${name.slice(-2)} (48 characters) beside a long run directory`, 'POST', '/vms', r);
    if (r.status === 201) made.push(name);
    check(`long run dir socket: ${name.slice(0, 12)}...${name.slice(-2)} gets RUN_DIR/vms/NAME.sock, or its create is refused`,
      (r.status >= 400 && r.status < 500) || r.json?.api_socket === `${RUN_DIR2}/vms/${name}.sock`,
      `${r.status}: api_socket ${r.json?.api_socket} (${r.json?.api_socket?.length} bytes)`);
  }
  for (const name of made) await api('DELETE', `/vms/${name}`, { sock: SOCK2 });
  const left = await call('second daemon: list at the end', 'GET', '/vms', { sock: SOCK2, expect: 200 });
  check('second daemon: no VMs left', same(left?.json, { vms: [] }), left?.text);
}

// ---- 4. bad requests of every kind ----------------------------------------------------------------

async function badRequests() {
  // A running VM (run1) and a stopped one (beta): no bad request may stop, start, change or
  // delete either, nor create another.
  await call('create run1', 'POST', '/vms', { body: { name: 'run1', args: IDLE_ARGS, restart: 'never' }, expect: 201 });
  await call('start run1', 'POST', '/vms/run1/start', { expect: 200 });
  check('run1: the guest runs', await waitCount(`${STATE_DIR}/logs/run1.log`, GUEST_UP, 1), 'no "idle guest up"');
  await call('create beta', 'POST', '/vms', { body: { name: 'beta', args: IDLE_ARGS }, expect: 201 });

  const GOOD = {
    'GET /daemon': ['/daemon'], 'GET /vms': ['/vms'], 'POST /vms': ['/vms', { name: 'new1', args: IDLE_ARGS }],
    'GET /vms/{name}': ['/vms/beta'], 'PATCH /vms/{name}': ['/vms/beta', { restart: 'always' }],
    'DELETE /vms/{name}': ['/vms/beta'], 'POST /vms/{name}/start': ['/vms/beta/start'],
    'POST /vms/{name}/stop': ['/vms/run1/stop', { force: true }],
    'GET /events': ['/events'], 'GET /vms/{name}/events': ['/vms/run1/events'],
  };
  check('bad: every operation of the document has a request here', [...operations].every((op) => GOOD[op]),
    [...operations].filter((op) => !GOOD[op]).join(', '));
  const big = JSON.stringify({ restart: 'always', pad: 'x'.repeat(70 * 1024) });
  for (const op of operations) {
    const [method] = op.split(' ');
    const [path, body] = GOOD[op] ?? [];
    if (!path) continue;
    await bad(`over 64 KiB to ${op}`, method, path, { body: big, expect: 413 });
    if (body) {
      await bad(`${op}: text/plain`, method, path, { body: JSON.stringify(body), type: 'text/plain', expect: 415 });
      await bad(`${op}: no Content-Type`, method, path, { body: JSON.stringify(body), type: null, expect: 415 });
    } else {
      await bad(`${op}: a body (it takes none)`, method, path, { body: { a: 1 }, expect: 400 });
      await bad(`${op}: a text/plain body (it takes none)`, method, path, { body: 'x', type: 'text/plain', expect: 400 });
      await bad(`${op}: {} (it takes no body)`, method, path, { body: '{}', expect: 400 });
    }
    await bad(`${op}: a query string`, method, `${path}?x=1`, { body, expect: 400 });
  }
  await bad('over 64 KiB to an unknown path', 'POST', '/nothing', { body: big, expect: 413 });
  // The limit itself: 64 KiB of JSON (padded with spaces) is read, one byte more is not.
  const exact = `{"restart": "on-failure"}${' '.repeat(64 * 1024 - 25)}`;
  const ex = await call('a body of exactly 64 KiB is taken', 'PATCH', '/vms/beta', { body: exact, expect: 200 });
  check('the 64 KiB body was read', ex?.json?.restart === 'on-failure', ex?.text);
  await bad('a body of 64 KiB + 1', 'PATCH', '/vms/beta', { body: `${exact} `, expect: 413 });
  const cs = await call('PATCH with "application/json; charset=utf-8"', 'PATCH', '/vms/beta',
    { body: {}, type: 'application/json; charset=utf-8', expect: 200 });
  check('charset: taken', cs?.json?.name === 'beta', cs?.text);
  await call('PATCH with "Application/JSON"', 'PATCH', '/vms/beta', { body: {}, type: 'Application/JSON', expect: 200 });
  const ch = await call('PATCH with the body chunked', 'PATCH', '/vms/beta', { body: { restart: 'always' }, headers: { chunked: true }, expect: 200 });
  check('chunked: the body was read', ch?.json?.restart === 'always', ch?.text);
  await call('PATCH back to on-failure', 'PATCH', '/vms/beta', { body: { restart: 'on-failure' }, expect: 200 });
  await bad('over 64 KiB, chunked', 'PATCH', '/vms/beta', { body: big, headers: { chunked: true }, expect: 413 });
  for (const type of ['application/jsonx', 'text/json', 'application/x-www-form-urlencoded', 'application/xml', 'json'])
    await bad(`Content-Type ${type}`, 'PATCH', '/vms/beta', { body: '{"restart": "never"}', type, expect: 415 });

  // Bodies that are not a JSON object of the fields, on each operation that takes one.
  const malformed = [['malformed JSON', '{"restart": '], ['trailing garbage', '{"restart": "never"} x'],
    ['not UTF-8', Buffer.from('{"restart": "nev\xffer"}', 'latin1')], ['a JSON array', '[{"restart": "never"}]'],
    ['a JSON string', '"never"'], ['JSON null', 'null'], ['a number', '42'],
    ['a duplicate key', '{"restart": "never", "restart": "always"}'], ['a \\u0000 in a string', '{"restart": "nev\\u0000er"}'],
    ['single quotes', "{'restart': 'never'}"], ['a comment', '{"restart": "never" /* x */}']];
  for (const [what, body] of malformed) {
    await bad(`${what}: PATCH`, 'PATCH', '/vms/beta', { body, expect: 400 });
    await bad(`${what}: POST /vms`, 'POST', '/vms', { body: typeof body === 'string' ? body.replace('"restart"', '"name"') : body, expect: 400 });
    await bad(`${what}: stop (run1)`, 'POST', '/vms/run1/stop', { body: typeof body === 'string' ? body.replace('"restart"', '"force"') : body, expect: 400 });
  }
  await bad('a duplicate name key', 'POST', '/vms', { body: `{"name": "dup1", "name": "dup2", "args": []}`, expect: 400 });
  await bad('empty body: POST /vms', 'POST', '/vms', { body: '', expect: 400 });
  await bad('empty body: PATCH', 'PATCH', '/vms/beta', { body: '', expect: 400 });
  // Whole numbers the JSON writes with a fraction or an exponent, or too large for any.
  for (const body of ['{"timeout": 1.0}', '{"timeout": 1e1}', '{"timeout": 99999999999999999999}', '{"timeout": -0.0}'])
    await bad(`stop (run1) ${body}`, 'POST', '/vms/run1/stop', { body, expect: 400 });

  // Wrongly typed, out of range, missing or unknown fields.
  const def = (o) => ({ name: 'new2', args: IDLE_ARGS, ...o });
  const creates = [
    { name: 5, args: [] }, { name: '', args: [] }, { name: 'x'.repeat(49), args: [] }, { name: '.hidden', args: [] },
    { name: '-x', args: [] }, { name: 'a b', args: [] }, { name: 'a/b', args: [] }, { name: 'é', args: [] },
    { name: 'a:b', args: [] }, { name: 'a%20b', args: [] }, { name: null, args: [] }, { name: ['x'], args: [] },
    { name: 'new2' }, { args: IDLE_ARGS }, {}, def({ args: '--memory 16M' }), def({ args: [16] }), def({ args: [null] }),
    def({ args: [['--memory']] }), def({ args: null }), def({ args: { kernel: 'x' } }),
    def({ args: ['--name', 'x'] }), def({ args: ['--name=x'] }), def({ args: ['--name'] }),
    def({ args: ['--api-socket', '/tmp/x.sock'] }), def({ args: ['--api-socket=/tmp/x.sock'] }),
    def({ args: ['--incoming', 'unix:/tmp/x'] }), def({ args: ['--incoming=unix:/tmp/x'] }),
    def({ args: Array(257).fill('-v') }), def({ args: ['x'.repeat(4097)] }), def({ args: ['a\u0000b'] }),
    def({ restart: 'sometimes' }), def({ restart: 'Always' }), def({ restart: null }), def({ restart: 1 }),
    def({ restart: ['never'] }), def({ autostart: 'yes' }), def({ autostart: 1 }), def({ autostart: null }),
    def({ autostart: 'true' }), def({ cpus: 2 }), def({ state: 'running' }), def({ pid: 1 }), def({ Name: 'x' }),
    def({ limits: { cpu_percent: 1 }, extra: true }),
  ];
  for (const body of creates)
    await bad(`create ${JSON.stringify(body).slice(0, 90)}`, 'POST', '/vms', { body, expect: 400, schemaBad: true });
  // The limits at the ends: 256 arguments of 4096 bytes each are taken.
  const edge = await call('create with 256 arguments, one of 4096 bytes', 'POST', '/vms',
    { body: { name: 'edge', args: [...Array(255).fill('-v'), 'y'.repeat(4096)] }, expect: 201 });
  check('create edge: all 256 kept', edge?.json?.args?.length === 256 && edge.json.args[255].length === 4096, edge?.text?.slice(0, 100));
  await call('delete edge', 'DELETE', '/vms/edge', { expect: 204 });
  await bad('create beta, which exists, with a bad body: 400 before the name is looked at', 'POST', '/vms',
    { body: { name: 'beta', args: IDLE_ARGS, restart: 'sometimes' }, expect: 400, schemaBad: true });
  for (const body of [{ restart: 'sometimes' }, { restart: null }, { restart: true }, { restart: '' }, { name: 'x' },
    { args: [] }, { state: 'running' }, { restart: 'never', pid: 1 }, { Restart: 'never' }, { autostart: 'on' },
    { autostart: 0 }, { autostart: null }, { restart: 'never', autostart: [] }, { Autostart: true }])
    await bad(`patch ${JSON.stringify(body)}`, 'PATCH', '/vms/beta', { body, expect: 400, schemaBad: true });
  for (const body of [{ timeout: -1 }, { timeout: 3601 }, { timeout: '10' }, { timeout: 1.5 }, { timeout: null },
    { timeout: true }, { force: 'yes' }, { force: 1 }, { force: null }, { now: true }, { timeout: 1, Force: true },
    { timeout: 1, signal: 'KILL' }])
    await bad(`stop (run1) ${JSON.stringify(body)}`, 'POST', '/vms/run1/stop', { body, expect: 400, schemaBad: true });

  // Names in the path: what cannot be a name, or is not one of the VMs, is 404 (and not decoded).
  for (const [method, path, body] of [['GET', '/vms/a%20b'], ['GET', '/vms/.hidden'], ['GET', '/vms/-x'],
    ['GET', `/vms/${'x'.repeat(49)}`], ['GET', `/vms/${'x'.repeat(48)}`], ['GET', '/vms/b%65ta'], ['GET', '/vms/BETA'],
    ['GET', '/vms/%2e%2e'], ['GET', '/vms/..'], ['GET', '/vms/beta%2Fstart'], ['POST', '/vms/b%65ta/start'],
    ['POST', '/vms/r%75n1/stop', { force: true }], ['DELETE', '/vms/b%65ta'], ['PATCH', '/vms/.beta', { restart: 'never' }],
    ['PATCH', '/vms/nosuch', { restart: 'never' }], ['POST', '/vms/-x/stop'], ['POST', '/vms/nosuch/start'],
    ['DELETE', '/vms/nosuch'], ['PUT', '/vms/.bad']])
    await bad(`not a VM: ${method} ${path.slice(0, 40)}`, method, path, { body, expect: 404 });

  // Query strings: 400, whatever the resource, before the path is looked at.
  for (const [method, path, body] of [['GET', '/vms?'], ['GET', '/daemon?verbose'], ['POST', '/vms/run1/stop?force=1'],
    ['POST', '/vms/beta/start?now'], ['DELETE', '/vms/beta?'], ['POST', '/vms?dry_run=1', { name: 'q1', args: [] }],
    ['PATCH', '/vms/beta?restart=never', {}], ['GET', '/nothing?x'], ['GET', '/vms/nosuch?x']])
    await bad(`query string: ${method} ${path}`, method, path, { body, expect: 400 });

  // Wrong methods: 405 with the path's methods in Allow (checked against the document).
  for (const [method, path] of [['PUT', '/daemon'], ['POST', '/daemon'], ['DELETE', '/daemon'], ['PATCH', '/daemon'],
    ['DELETE', '/vms'], ['PUT', '/vms'], ['PATCH', '/vms'], ['OPTIONS', '/vms'], ['POST', '/vms/beta'], ['PUT', '/vms/beta'],
    ['OPTIONS', '/vms/beta'], ['GET', '/vms/beta/start'], ['PUT', '/vms/beta/start'], ['DELETE', '/vms/beta/start'],
    ['GET', '/vms/run1/stop'], ['DELETE', '/vms/run1/stop'], ['PATCH', '/vms/run1/stop'], ['GET', '/vms/nosuch/start'],
    ['PUT', '/vms/nosuch']])
    await bad(`wrong method ${method} ${path}`, method, path, { expect: 405 });

  // Unknown paths: 404.
  for (const path of ['/', '/vm', '/VMS', '/vms/', '/vms/beta/', '/vms/beta/restart', '/vms/beta/start/', '/vms//start',
    '/vms/beta/START', '/daemon/', '/daemons', '/vms/beta/stop/now', '/vms/beta/start/x', `/vms/beta/${'s'.repeat(300)}`,
    '//vms', '/vms/beta/%73tart'])
    await bad(`unknown path ${path.slice(0, 40)}`, 'POST', path, { expect: 404 });
  for (const path of ['/api/v2/vms', '/vms', '/api/v1', '/api/v1vms', '/api/v1x/vms', '/api/v1?x', '/API/v1/vms', '/'])
    await bad(`unknown path ${path} (outside /api/v1/)`, 'GET', path, { expect: 404, absolute: true });

  // Not HTTP as the server wants it: a 4xx (or the connection closed), and nothing changed.
  for (const [what, text] of [
    ['a header line without a colon', 'POST /api/v1/vms/run1/stop HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n'],
    ['an unknown HTTP version', 'POST /api/v1/vms/run1/stop HTTP/7.0\r\nHost: x\r\n\r\n'],
    ['a Content-Length that is not a number', 'PATCH /api/v1/vms/beta HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ten\r\n\r\n{"restart":"never"}'],
    ['not HTTP at all', 'HELLO\r\n\r\n'],
    ['a 100 KiB path', `DELETE /api/v1/vms/beta${'x'.repeat(100 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['a 100 KiB header', `DELETE /api/v1/vms/beta HTTP/1.1\r\nHost: x\r\nX-Big: ${'x'.repeat(100 * 1024)}\r\n\r\n`],
  ]) {
    const before = await stateOf();
    const raw = await rawRequest(text);
    const line = raw.split('\r\n')[0];
    check(`bad: ${what}: a 4xx (505 for the version) or the connection closed`,
      raw === '' || /^HTTP\/1\.[01] (4\d\d|505) /.test(raw), line);
    check(`bad: ${what}: nothing changed`, before === await stateOf(), 'changed');
  }
  const r1 = await getVm('run1');
  check('bad: run1 still runs, as started', r1?.state === 'running' && alive(r1.pid) && r1.restart === 'never', JSON.stringify(r1));
  const b1 = await getVm('beta');
  check('bad: beta still stopped, as created', b1?.state === 'stopped' && b1.restart === 'on-failure', JSON.stringify(b1));
}

function rawRequest(text) {
  return new Promise((resolve) => {
    const chunks = [];
    const c = net.createConnection(SOCK, () => c.write(text));
    const done = () => resolve(Buffer.concat(chunks).toString('latin1'));
    c.on('data', (d) => chunks.push(d));
    c.on('end', done);
    c.on('error', done);
    c.on('close', done);
    c.setTimeout(10000, () => c.destroy());
  });
}

// ---- 5. the connection limit ------------------------------------------------------------------------

function openIdle() {
  return new Promise((resolve) => {
    const c = net.createConnection(SOCK, () => resolve(c));
    c.on('error', () => resolve(c));
  });
}
async function connectionLimit() {
  const GOOD = {
    'GET /daemon': ['/daemon'], 'GET /vms': ['/vms'], 'POST /vms': ['/vms', { name: 'c503', args: IDLE_ARGS }],
    'GET /vms/{name}': ['/vms/beta'], 'PATCH /vms/{name}': ['/vms/beta', { restart: 'never' }],
    'DELETE /vms/{name}': ['/vms/beta'], 'POST /vms/{name}/start': ['/vms/beta/start'],
    'POST /vms/{name}/stop': ['/vms/run1/stop', { force: true }],
    'GET /events': ['/events'], 'GET /vms/{name}/events': ['/vms/beta/events'],
  };
  await sleep(500); // the connections of the requests before are closed
  const before = await stateOf();
  await sleep(500);
  const idle = [];
  for (let i = 0; i < MAX_CLIENTS; i++) idle.push(await openIdle());
  await sleep(500); // the server took the 32 before the others
  try {
    for (const op of operations) {
      const [method] = op.split(' ');
      const [path, body] = GOOD[op];
      await call(`connection limit: a 33rd connection: ${op}`, method, path, { body, expect: 503, timeout: 5000 });
    }
    await call('connection limit: a 33rd connection: an unknown path', 'GET', '/nothing', { expect: 503, timeout: 5000 });
    // The last of the 32 is served (they are never refused once made).
    const raw = await new Promise((resolve) => {
      const c = idle[MAX_CLIENTS - 1];
      const chunks = [];
      const t = setTimeout(() => resolve(Buffer.concat(chunks).toString('latin1')), 5000);
      c.on('data', (d) => {
        chunks.push(d);
        const text = Buffer.concat(chunks).toString('latin1');
        if (/\r\n\r\n[\s\S]*\}/.test(text)) { clearTimeout(t); resolve(text); }
      });
      c.write('GET /api/v1/vms/run1 HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    check(`connection limit: the ${MAX_CLIENTS}th idle connection is served (200)`, /^HTTP\/1\.1 200 /.test(raw),
      raw.split('\r\n')[0] || 'no reply in 5 s');
  } finally {
    for (const c of idle) c.destroy();
  }
  let answered = false;
  for (let i = 0; i < 50 && !answered; i++) {
    answered = (await api('GET', '/daemon', { timeout: 2000 }).catch(() => null))?.status === 200;
    if (!answered) await sleep(100);
  }
  check('connection limit: served again once the idle connections closed', answered, 'no answer in 5 s');
  const after = await stateOf();
  check('connection limit: the 503s changed nothing', before === after, `before ${before}, after ${after}`);
}

// ---- 6. gureum vm, the command line, prints what the API says -------------------------------------

async function cli() {
  for (const [args, path, pointer] of [[['info', 'run1'], '/vms/run1', '/components/schemas/VmStatus'],
    [['list'], '/vms', '/components/schemas/VmList'], [['daemon'], '/daemon', '/components/schemas/DaemonInfo']]) {
    const r = await vmCli(['--json', ...args]);
    let body;
    try { body = JSON.parse(r.stdout); } catch { body = undefined; }
    const direct = await api('GET', path);
    check(`gureum vm --json ${args.join(' ')}: the document's body, as GET ${path} has it`, r.code === 0 && body &&
      schemaValid(pointer, body) && same(body, direct.json), `exit ${r.code}: ${r.stdout.slice(0, 200)}${r.stderr} vs ${direct.text.slice(0, 200)}`);
  }
  const r = await vmCli(['info', 'nosuch']);
  check('gureum vm info nosuch: exit 1 with the API\'s sentence', r.code === 1 && /no VM is named nosuch/.test(r.stdout + r.stderr),
    `exit ${r.code}: ${r.stdout}${r.stderr}`);
}

// ---- run ------------------------------------------------------------------------------------------

// ---- the event stream --------------------------------------------------------------------------

// A GET on a stream: {status, type, lines (parsed as they come), close()}; `opened` resolves once
// the headers are in.
function openStream(path) {
  const stream = { lines: [], raw: [], status: 0, type: '', ended: false };
  let pending = '';
  stream.opened = new Promise((resolve, reject) => {
    const req = http.request({ socketPath: SOCK, method: 'GET', path: PREFIX + path, agent: false }, (res) => {
      stream.status = res.statusCode;
      stream.type = res.headers['content-type'] ?? '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        pending += chunk;
        let at;
        while ((at = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, at);
          pending = pending.slice(at + 1);
          stream.raw.push(line);
          try { stream.lines.push(JSON.parse(line)); } catch { stream.lines.push(null); }
        }
      });
      res.on('end', () => { stream.ended = true; });
      res.on('error', () => { stream.ended = true; });
      resolve();
    });
    req.on('error', reject);
    req.end();
    stream.close = () => req.destroy();
  });
  return stream;
}

async function waitLine(stream, test, seconds = 15) {
  for (let i = 0; i < seconds * 10; i++) {
    if (stream.lines.some((l) => l && test(l))) return true;
    await sleep(100);
  }
  return false;
}

// Each line is an Event of the document; the (path, method, 200) counted as seen.
function streamConforms(label, template, stream) {
  const what = `GET ${template} -> ${stream.status}`;
  const key = `GET ${template} ${stream.status}`;
  if (!triples.has(key)) return fail(label, `${what}: status not documented`);
  triples.set(key, triples.get(key) + 1);
  check(`${label}: ${what}, Content-Type application/x-ndjson`, stream.type.startsWith('application/x-ndjson'), stream.type);
  const validate = validatorFor(`/paths/${escape(template)}/get/responses/200/content/${escape('application/x-ndjson')}/schema`);
  const bad = stream.raw.filter((text, i) => !stream.lines[i] || !validate(stream.lines[i]));
  check(`${label}: its ${stream.raw.length} lines are each an Event of the document`, stream.raw.length > 0 && bad.length === 0,
    `${bad.slice(0, 3).join(' | ')} ${ajv.errorsText(validate.errors)}`);
}

async function events() {
  await call('create evt-other', 'POST', '/vms', { body: { name: 'evt-other', args: IDLE_ARGS }, expect: 201 });
  const all = openStream('/events');
  const one = openStream('/vms/evt-other/events');
  await Promise.all([all.opened, one.opened]);
  check('events: both streams answer 200 at once, before any event', all.status === 200 && one.status === 200,
    `${all.status} ${one.status}`);
  await call('create evt', 'POST', '/vms', { body: { name: 'evt', args: IDLE_ARGS, restart: 'always' }, expect: 201 });
  await call('start evt', 'POST', '/vms/evt/start', { expect: 200 });
  const pid = (await getVm('evt'))?.pid;
  await call('start evt-other', 'POST', '/vms/evt-other/start', { expect: 200 });
  check('events: started, with its pid', await waitLine(all, (l) => l.vm === 'evt' && l.event === 'started' && l.pid === pid),
    all.raw.join(' | '));
  process.kill(pid, 'SIGKILL');
  check('events: a kill -9 is "ended" with how, then "restarted" with a new pid',
    await waitLine(all, (l) => l.vm === 'evt' && l.event === 'restarted' && l.pid !== pid) &&
    all.lines.some((l) => l?.vm === 'evt' && l.event === 'ended' && l.pid === pid && l.detail === 'killed by signal 9 (Killed)'),
    all.raw.join(' | '));
  await call('PATCH evt', 'PATCH', '/vms/evt', { body: { restart: 'never' }, expect: 200 });
  await call('stop evt', 'POST', '/vms/evt/stop', { body: { force: true }, expect: 200 });
  await call('delete evt', 'DELETE', '/vms/evt', { expect: 204 });
  check('events: deleted', await waitLine(all, (l) => l.vm === 'evt' && l.event === 'deleted'), all.raw.join(' | '));
  const order = all.lines.filter((l) => l?.vm === 'evt').map((l) => l.event).join(',');
  check('events: evt\'s events in order', order === 'created,started,ended,restarted,changed,stopping,ended,deleted', order);
  const seqs = all.lines.map((l) => l?.seq);
  check('events: seq goes up by one', seqs.every((n, i) => i === 0 || n === seqs[i - 1] + 1), seqs.join(','));
  check('events: the VM\'s own stream has its events only',
    one.lines.length > 0 && one.lines.every((l) => l?.vm === 'evt-other') && one.lines.some((l) => l.event === 'started'),
    one.raw.join(' | '));
  streamConforms('events', '/events', all);
  streamConforms('events of one VM', '/vms/{name}/events', one);
  await call('events of a VM that is not there', 'GET', '/vms/nope/events', { expect: 404 });
  await call('POST /events', 'POST', '/events', { expect: 405 });
  all.close();
  await call('stop evt-other', 'POST', '/vms/evt-other/stop', { body: { force: true }, expect: 200 });
  await call('delete evt-other', 'DELETE', '/vms/evt-other', { expect: 204 });
  let ended = false;
  for (let i = 0; i < 100 && !ended; i++) { ended = one.ended; if (!ended) await sleep(100); }
  check('events: a VM\'s stream ends after its deleted', ended && one.lines.at(-1)?.event === 'deleted',
    `ended ${ended}: ${one.raw.join(' | ')}`);
  one.close();
}

const phases = [['create and list', createAndList], ['lifecycle', lifecycle], ['limits', limits], ['events', events],
  ['a second gureumd', secondDaemon], ['bad requests', badRequests], ['connections', connectionLimit], ['gureum vm', cli]];
for (const [name, phase] of phases) {
  console.log(`---- ${name}`);
  try {
    await phase();
  } catch (e) {
    fail(name, e.stack);
  }
}

console.log('---- the end: every VM stopped and deleted');
for (const vm of (await api('GET', '/vms').catch(() => null))?.json?.vms ?? []) {
  await call(`stop ${vm.name}`, 'POST', `/vms/${vm.name}/stop`, { body: { force: true }, expect: 200 });
  await call(`delete ${vm.name}`, 'DELETE', `/vms/${vm.name}`, { expect: 204 });
}
const end = await call('daemon at the end', 'GET', '/daemon', { expect: 200 });
check('the end: no VMs, none running', end?.json?.vms === 0 && end.json.running === 0, end?.text);
const leftPids = [...pidsSeen].filter(([pid, seen]) => stillThere(pid, seen));
check(`the end: none of the ${pidsSeen.size} VM processes seen is left`, leftPids.length === 0,
  leftPids.map(([pid, seen]) => `${pid} (${seen.name}'s: ${cmdline(pid).join(' ')})`).join(', '));

console.log('---- coverage of the document');
if (CGROUPS !== 'none' && !NOCG) {
  UNREACHABLE.push({ path: '/vms/{name}', method: 'PATCH', status: '409', reason: `only on a host without cgroups ` +
    `(this one has ${CGROUPS} and does not let the test hide them), or when the cgroup refuses a memory limit under ` +
    'what the VM uses (the idle guest\'s VMM uses less than the smallest limit, 16 MiB)' });
}
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
    if (why) fail(`coverage: ${key}`, `seen, but listed as unreachable (${why.reason})`);
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
process.exit(counts.failed ? 1 : 0);
