// What the two contract tests share (contract.mjs: a VM's API and docs/api/vm.yaml;
// daemon_contract.mjs: gureumd's and docs/api/daemon.yaml): the check reporter, the OpenAPI
// document with its validators and its list of (path, method, status), and HTTP on a unix
// socket. Each test keeps its own conform() and call(): what counts as a shared response and
// what a reply must also satisfy differ between the two APIs.
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import http from 'node:http';
import { readFileSync } from 'node:fs';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One line per check. `knownBugs`: checks that fail because of a known bug in the server, the
// document being right ({match: /label/, bug: 'why'}): each is reported as "xfail" and does not
// fail the run; one that passes ("XPASS") fails it, so that the entry is removed once the bug
// is fixed.
export function reporter(knownBugs) {
  const counts = { passed: 0, failed: 0, xfailed: 0 };
  const knownBug = (label) => knownBugs.find((k) => k.match.test(label));
  function ok(label) {
    const known = knownBug(label);
    if (known) {
      counts.failed++;
      console.log(`XPASS ${label}: passes now; remove its entry from KNOWN_SERVER_BUGS (${known.bug})`);
      return;
    }
    counts.passed++;
    console.log(`ok   ${label}`);
  }
  function fail(label, why) {
    const known = knownBug(label);
    if (known) {
      counts.xfailed++;
      console.log(`xfail ${label}: ${String(why).slice(0, 160)} [known server bug: ${known.bug}]`);
      return;
    }
    counts.failed++;
    console.log(`FAIL ${label}: ${why}`);
  }
  function check(label, condition, why) {
    if (condition) ok(label);
    else fail(label, why);
    return condition;
  }
  const summary = () => `${counts.passed} checks passed, ${counts.failed} failed, ${counts.xfailed} failed on known server bugs`;
  return { ok, fail, check, counts, summary };
}

export const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
export const escape = (segment) => segment.replaceAll('~', '~0').replaceAll('/', '~1');
export const JSON_TYPE = escape('application/json');

// The OpenAPI document at `file`, checked to be valid OpenAPI 3.1 (a check of `report`), with
// ajv validators by JSON pointer and every documented (path, method, status) to count.
export async function loadDocument(file, id, report) {
  const doc = YAML.parse(readFileSync(file, 'utf8'));
  const validator = new Validator();
  const result = await validator.validate(structuredClone(doc));
  report.check(`${file} is a valid OpenAPI ${validator.version} document`,
    result.valid && validator.version === '3.1', JSON.stringify(result.errors));
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: id });
  const validators = new Map();
  function validatorFor(pointer) {
    if (!validators.has(pointer)) validators.set(pointer, ajv.compile({ $ref: `${id}#${pointer}` }));
    return validators.get(pointer);
  }
  // Every documented (path, method, status), and how often each was seen.
  const triples = new Map();
  for (const [path, item] of Object.entries(doc.paths))
    for (const method of METHODS)
      if (item[method])
        for (const status of Object.keys(item[method].responses))
          triples.set(`${method.toUpperCase()} ${path} ${status}`, 0);
  const operations = new Set([...triples.keys()].map((t) => t.split(' ').slice(0, 2).join(' ')));
  // The document's path template for a concrete path (/vms/web1/start -> /vms/{name}/start).
  function templateOf(path) {
    for (const template of Object.keys(doc.paths)) {
      const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      if (re.test(path)) return template;
    }
    return null;
  }
  // The response object (a $ref resolved) and the JSON pointer of its body's schema.
  function documentedResponse(template, method, status) {
    const op = doc.paths[template]?.[method.toLowerCase()];
    let pointer = `/paths/${escape(template)}/${method.toLowerCase()}/responses/${status}`;
    let response = op?.responses?.[status];
    if (response?.$ref) {
      pointer = response.$ref.slice(1);
      response = pointer.split('/').slice(1).reduce((o, k) => o[k.replaceAll('~1', '/').replaceAll('~0', '~')], doc);
    }
    return { response, schemaPointer: `${pointer}/content/${JSON_TYPE}/schema` };
  }
  function requestSchemaPointer(template, method) {
    const op = doc.paths[template]?.[method.toLowerCase()];
    if (!op?.requestBody) return null;
    return `/paths/${escape(template)}/${method.toLowerCase()}/requestBody/content/${JSON_TYPE}/schema`;
  }
  return { doc, ajv, validatorFor, triples, operations, templateOf, documentedResponse, requestSchemaPointer };
}

// One HTTP request on the unix socket `sock`: {status, headers, text, json}. A body that is not
// a string or a Buffer goes as JSON; `type: null` sends none; headers.chunked: no length.
export function request(sock, method, path, { body, type, headers = {}, timeout = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    let data = body;
    if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) data = JSON.stringify(body);
    if (data !== undefined) {
      if (!headers.chunked) h['Content-Length'] = Buffer.byteLength(data);
      delete h.chunked;
      if (type !== null) h['Content-Type'] = type ?? 'application/json';
    }
    const req = http.request({ socketPath: sock, method, path, headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.setTimeout(timeout, () => req.destroy(new Error(`no reply in ${timeout} ms`)));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

// The reply's body is the documented response's: JSON of its schema, or nothing where the
// document has no content. Reports the failure; whether it conforms.
export function bodyConforms({ fail, validatorFor, ajv }, label, what, response, schemaPointer, res) {
  if (response.content) {
    const type = res.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) {
      fail(label, `${what}: Content-Type "${type}", not application/json (${res.text.slice(0, 200)})`);
      return false;
    }
    if (res.json === undefined) {
      fail(label, `${what}: the body is not JSON: ${res.text.slice(0, 200)}`);
      return false;
    }
    const validate = validatorFor(schemaPointer);
    if (!validate(res.json)) {
      fail(label, `${what}: the body ${res.text.slice(0, 400)} does not match the document: ${ajv.errorsText(validate.errors)}`);
      return false;
    }
  } else if (res.text.length || res.headers['content-length'] > 0) {
    fail(label, `${what}: a body where the document has none: ${res.text.slice(0, 200)}`);
    return false;
  }
  return true;
}
