'use strict';
// One calling surface over the official Alibaba Cloud Node.js SDK flavours, against the emulator
// named by ADO_EMULATOR_URL (scripts/test.sh starts it):
//
//   pop-core  @alicloud/pop-core RPCClient: signature V1 (HMAC-SHA1), POST with a form body
//   v3        the generated product clients (@alicloud/ram20150501, ims20190815, sts20150401,
//             resourcemanager20200331) on @alicloud/openapi-core: ACS3-HMAC-SHA256
//   v1        the same clients with signatureAlgorithm 'v2' (RPC signature V1, parameters in the query)
//
// call(product, creds, action, params) takes wire-named parameters and returns { body, model }:
// `body` with wire keys (pop-core: the JSON as received; v3/v1: the SDK's parsed response model
// turned back into a map, so a key the model does not know is lost and the test fails), `model`
// the SDK's model (v3/v1 only). Errors become ApiError { code, status, message, requestId }.

const assert = require('node:assert/strict');
const { inspect } = require('node:util');

const RPCClient = require('@alicloud/pop-core');
const OpenApi = require('@alicloud/openapi-core');
const OpenApiUtils = require('@alicloud/openapi-core/dist/utils').default;

const PRODUCTS = {
  ram: { version: '2015-05-01', sdk: require('@alicloud/ram20150501') },
  ims: { version: '2019-08-15', sdk: require('@alicloud/ims20190815') },
  rm: { version: '2020-03-31', sdk: require('@alicloud/resourcemanager20200331') },
  sts: { version: '2015-04-01', sdk: require('@alicloud/sts20150401') },
};

const FLAVOURS = ['pop-core', 'v3', 'v1'];

const URL_ = process.env.ADO_EMULATOR_URL || '';
if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(URL_)) {
  throw new Error(`ADO_EMULATOR_URL must be http://127.0.0.1:PORT (loopback), got ${JSON.stringify(URL_)}`);
}
const HOST_PORT = URL_.slice('http://'.length);

class ApiError extends Error {
  constructor(flavour, code, status, message, requestId) {
    super(`[${flavour}] HTTP ${status} ${code}: ${message} (RequestId ${requestId})`);
    this.flavour = flavour;
    this.code = code;
    this.status = status;
    this.serverMessage = message;
    this.requestId = requestId;
  }
}

// ------------------------------------------------------------------ the emulator's clock
// Tests move the emulator clock forward; the SDKs' timestamps follow it so they stay inside the
// 15-minute window. openapi-core reads Utils.getTimestamp at call time; pop-core takes a Timestamp
// parameter that overrides its own.
const clock = { offsetMs: 0 };
function timestamp() {
  return new Date(Date.now() + clock.offsetMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
OpenApiUtils.getTimestamp = timestamp;

async function admin(method, path, body) {
  const res = await fetch(URL_ + path, {
    method,
    body,
    headers: body ? { 'content-type': 'application/yaml' } : {},
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

async function syncClock() {
  const r = await admin('GET', '/__emulator/clock');
  assert.equal(r.status, 200);
  clock.offsetMs = Date.parse(r.json().now) - Date.now();
}

/** Fresh world from tests/conformance/seed.yaml (the same seed as the Python suite). */
async function loadSeed(text) {
  const r = await admin('PUT', '/__emulator/seed', text);
  assert.equal(r.status, 200, `PUT /__emulator/seed -> ${r.status}: ${r.text.slice(0, 300)}`);
  await syncClock();
}

async function advance(seconds) {
  const r = await admin('POST', `/__emulator/clock/advance?seconds=${seconds}`);
  assert.equal(r.status, 200);
  await syncClock();
}

// ------------------------------------------------------------------ calls
function lcfirst(s) {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** Wire-keyed plain data -> the SDK's request model (nested lists of models included). */
function toModel(Cls, wire) {
  const names = Cls.names();
  const types = Cls.types();
  const byWire = Object.fromEntries(Object.entries(names).map(([k, v]) => [v, k]));
  const init = {};
  for (const [wk, wv] of Object.entries(wire)) {
    const k = byWire[wk];
    if (!k) throw new Error(`${Cls.name} has no field ${wk}`);
    const t = types[k];
    if (Array.isArray(wv) && t && typeof t === 'object' && typeof t.itemType === 'function') {
      init[k] = wv.map((x) => toModel(t.itemType, x));
    } else {
      init[k] = wv;
    }
  }
  return new Cls(init);
}

function teaClient(flavour, product, creds) {
  const cfg = new OpenApi.$OpenApiUtil.Config({
    accessKeyId: creds.accessKeyId,
    accessKeySecret: creds.accessKeySecret,
    securityToken: creds.securityToken,
    endpoint: HOST_PORT,
    protocol: 'http',
    readTimeout: 15000,
    connectTimeout: 5000,
  });
  if (flavour === 'v1') cfg.signatureAlgorithm = 'v2';
  const Client = PRODUCTS[product].sdk.default;
  return new Client(cfg);
}

function runtime() {
  return new (require('@darabonba/typescript').RuntimeOptions)({});
}

async function callTea(flavour, product, creds, action, params, generic) {
  const client = teaClient(flavour, product, creds);
  const sdk = PRODUCTS[product].sdk;
  const method = generic ? undefined : client[lcfirst(action) + 'WithOptions'];
  try {
    let resp;
    if (typeof method !== 'function') {
      // The product package has no method for it (e.g. IMS service credentials in
      // @alicloud/ims20190815 2.3.2): the generic call of openapi-core, as the SDK docs show.
      const req = new OpenApi.$OpenApiUtil.OpenApiRequest({
        query: OpenApiUtils.query(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]))),
      });
      const p = new OpenApi.$OpenApiUtil.Params({
        action, version: PRODUCTS[product].version, protocol: 'HTTPS', pathname: '/', method: 'POST',
        authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
      });
      resp = await client.callApi(p, req, runtime());
      return { body: resp.body, model: null };
    }
    if (method.length >= 2) {
      const Req = sdk[action + 'Request'];
      resp = await method.call(client, toModel(Req, params), runtime());
    } else {
      assert.equal(Object.keys(params).length, 0, `${action} takes no parameters in the SDK`);
      resp = await method.call(client, runtime());
    }
    return { body: resp.body.toMap(), model: resp.body };
  } catch (e) {
    if (e && e.code && e.statusCode) {
      const data = e.data || {};
      throw new ApiError(flavour, e.code, e.statusCode, data.Message || e.message, data.RequestId || e.requestId);
    }
    throw e;
  }
}

async function callPop(product, creds, action, params) {
  const client = new RPCClient({
    accessKeyId: creds.accessKeyId,
    accessKeySecret: creds.accessKeySecret,
    securityToken: creds.securityToken,
    endpoint: URL_,
    apiVersion: PRODUCTS[product].version,
  });
  const flat = {};
  for (const [k, v] of Object.entries(params)) flat[k] = typeof v === 'boolean' ? String(v) : v;
  try {
    const body = await client.request(action, { ...flat, Timestamp: timestamp() }, { method: 'POST', timeout: 15000 });
    return { body, model: null };
  } catch (e) {
    if (e && e.code && e.data) {
      const status = e.entry && e.entry.response ? e.entry.response.statusCode : undefined;
      throw new ApiError('pop-core', e.code, status, e.data.Message, e.data.RequestId);
    }
    throw e;
  }
}

/** One call; `params` are wire-named. RAM's `Tag` (a JSON string on the wire) may be given as a list. */
async function call(flavour, product, creds, action, params = {}, { generic = false } = {}) {
  const p = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== null));
  if (flavour === 'pop-core') {
    // JSON-style parameters (alibaba-api.md §1.2) are one JSON string on the wire
    if (product === 'ram' && Array.isArray(p.Tag)) p.Tag = JSON.stringify(p.Tag);
    if (product === 'rm' && Array.isArray(p.AbandonableCheckId)) p.AbandonableCheckId = JSON.stringify(p.AbandonableCheckId);
    return callPop(product, creds, action, p);
  }
  return callTea(flavour, product, creds, action, p, generic);
}

/** The call with exactly these query parameters (the product models drop unknown ones). */
function callGeneric(flavour, product, creds, action, params) {
  return call(flavour, product, creds, action, params, { generic: true });
}

async function expectError(promise, code, status) {
  let err;
  try {
    const out = await promise;
    assert.fail(`expected ${code}, got success: ${inspect(out && out.body, { depth: 4 })}`);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ApiError, `expected ApiError ${code}, got ${err && err.stack}`);
  assert.equal(err.code, code, err.message);
  if (status !== undefined) assert.equal(err.status, status, err.message);
  assert.ok(err.requestId, `${code}: no RequestId`);
  return err;
}

/** Marker pagination with a page size; returns the items (wire keys) and the number of pages. */
async function walkMarker(flavour, product, creds, action, container, item, params = {}, pageSize = 1) {
  const items = [];
  let marker;
  for (let pages = 1; pages < 1000; pages++) {
    const p = { ...params, MaxItems: pageSize };
    if (marker) p.Marker = marker;
    const { body } = await call(flavour, product, creds, action, p);
    const page = ((body[container] || {})[item]) || [];
    assert.ok(page.length <= pageSize, `${action}: page of ${page.length} > ${pageSize}`);
    items.push(...page);
    assert.equal(typeof body.IsTruncated, 'boolean', `${action}: IsTruncated must be a JSON boolean`);
    if (!body.IsTruncated) {
      assert.ok(!body.Marker, `${action}: Marker on the last page`);
      return { items, pages };
    }
    assert.ok(body.Marker, `${action}: IsTruncated without Marker`);
    marker = body.Marker;
  }
  throw new Error(`${action}: pagination did not end`);
}

module.exports = { FLAVOURS, ApiError, admin, loadSeed, advance, call, callGeneric, expectError, walkMarker, clock };
