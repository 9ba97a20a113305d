// End-to-end: the real `sobre serve` on port 0, a fake OpenAI upstream, and the official openai
// npm SDK as the client. Run by ctest (see tests/e2e/CMakeLists.txt) with SOBRE_BINARY and
// FAKE_UPSTREAM pointing at the built programs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { children, startListening } from './harness.mjs';

const SOBRE = process.env.SOBRE_BINARY;
const FAKE = process.env.FAKE_UPSTREAM;
assert.ok(SOBRE && FAKE, 'SOBRE_BINARY and FAKE_UPSTREAM must be set');

let dir;
let base;
const DEV_KEY = 'sk-sobre-e2e-dev-0123456789abcdefghijklmnop';
const TIGHT_KEY = 'sk-sobre-e2e-tight-0123456789abcdefghijklmno';

function client(apiKey = DEV_KEY) {
  return new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 20000 });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sobre-e2e-'));
  const ok = await startListening(FAKE, ['--port', '0', '--tokens', '12']);
  const failing = await startListening(FAKE, ['--port', '0', '--status', '503']);
  const cutter = await startListening(FAKE, ['--port', '0', '--tokens', '20', '--cut-after-chunks', '3']);
  const noUsage = await startListening(FAKE, ['--port', '0', '--tokens', '12', '--omit-usage']);
  const up = (p) => `http://127.0.0.1:${p}/v1`;
  writeFileSync(join(dir, 'sobre.yaml'), `
store: sqlite://${join(dir, 'sobre.db')}
site: { zone: FR, pue: 1.2, wue_l_per_kwh: 0.5 }
models:
  - { name: small, upstream: ${up(ok.port)}, upstream_model: qwen2.5-0.5b-instruct, params_b: 0.5 }
  - { name: flaky, upstream: ${up(failing.port)}, params_b: 7, max_retries: 0, fallbacks: [small] }
  - { name: cutter, upstream: ${up(cutter.port)}, params_b: 0.5, max_retries: 0 }
  - { name: quiet, upstream: ${up(noUsage.port)}, params_b: 0.5 }
keys:
  - { name: dev, key_env: E2E_DEV_KEY }
  - { name: tight, key_env: E2E_TIGHT_KEY, budget: { tokens_per_day: 300 } }
`);
  const gw = await startListening(SOBRE, ['serve', '--config', join(dir, 'sobre.yaml'), '--listen', '127.0.0.1:0'],
    { E2E_DEV_KEY: DEV_KEY, E2E_TIGHT_KEY: TIGHT_KEY });
  base = `http://127.0.0.1:${gw.port}`;
});

after(() => {
  for (const c of children) c.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('models lists the configured models', async () => {
  const models = [];
  for await (const m of client().models.list()) models.push(m.id);
  assert.deepEqual(models.sort(), ['cutter', 'flaky', 'quiet', 'small']);
});

test('chat completion carries usage.footprint and x-sobre headers', async () => {
  const { data, response } = await client().chat.completions
    .create({ model: 'small', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 12 })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.ok(data.choices[0].message.content.length > 0);
  assert.ok(data.usage.prompt_tokens > 0 && data.usage.completion_tokens > 0);
  const fp = data.usage.footprint;
  assert.ok(fp, 'usage.footprint missing');
  for (const k of ['energy_wh', 'co2e_g', 'water_ml', 'embodied_co2e_g', 'intensity_g_per_kwh']) {
    assert.equal(typeof fp[k], 'number', k);
    assert.ok(fp[k] >= 0, k);
  }
  assert.equal(fp.method, 'estimated');
  assert.equal(fp.zone, 'FR');
  assert.ok(Number(response.headers.get('x-sobre-energy-wh')) > 0);
  assert.ok(response.headers.get('x-sobre-co2e-g') !== null);
  assert.equal(response.headers.get('x-sobre-method'), 'estimated');
  assert.ok(Number(response.headers.get('x-sobre-overhead-ms')) >= 0);
});

test('streaming with include_usage: usage null on chunks, a last choices:[] chunk with footprint', async () => {
  const stream = await client().chat.completions.create({
    model: 'small', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Count' }], max_tokens: 12,
  });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.ok(chunks.length >= 3);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage.completion_tokens > 0);
  assert.ok(last.usage.footprint && last.usage.footprint.energy_wh > 0);
  for (const c of chunks.slice(0, -1)) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.usage, null);
  }
  const text = chunks.slice(0, -1).map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.ok(text.length > 0);
});

test('streaming without include_usage sends no usage chunk', async () => {
  const stream = await client().chat.completions.create({
    model: 'small', stream: true, messages: [{ role: 'user', content: 'Count' }], max_tokens: 5,
  });
  for await (const c of stream) assert.ok(c.choices.length > 0);
});

test('legacy completions and embeddings', async () => {
  const c = await client().completions.create({ model: 'small', prompt: 'Once upon', max_tokens: 5 });
  assert.equal(c.object, 'text_completion');
  assert.ok(c.choices[0].text.length > 0);
  const e = await client().embeddings.create({ model: 'small', input: ['a', 'b'] });
  assert.equal(e.data.length, 2);
  assert.ok(e.data[0].embedding.length > 0);
});

test('usage counted by sobre when the upstream omits it', async () => {
  const r = await client().chat.completions.create({ model: 'quiet', messages: [{ role: 'user', content: 'hi there' }] });
  assert.ok(r.usage && r.usage.completion_tokens > 0);
});

test('errors: unknown model 404, bad parameter 400, bad key 401', async () => {
  await assert.rejects(
    client().chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  await assert.rejects(
    client().chat.completions.create({ model: 'small', temperature: 5, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  await assert.rejects(
    client('sk-wrong').chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

test('a failing primary falls back to the next model', async () => {
  const r = await client().chat.completions.create({ model: 'flaky', messages: [{ role: 'user', content: 'x' }] });
  assert.ok(r.choices[0].message.content.length > 0);
  const s = await client().chat.completions.create({ model: 'flaky', stream: true, messages: [{ role: 'user', content: 'x' }] });
  let n = 0;
  for await (const c of s) n += c.choices.length;
  assert.ok(n > 0);
});

test('an upstream dying mid-stream surfaces as an error, not a clean end', async () => {
  const s = await client().chat.completions.create({ model: 'cutter', stream: true, messages: [{ role: 'user', content: 'x' }] });
  await assert.rejects(async () => { for await (const c of s) void c; });
});

test('a concurrent burst against a token budget never overspends', async () => {
  const tight = client(TIGHT_KEY);
  const results = await Promise.allSettled(Array.from({ length: 30 }, () =>
    tight.chat.completions.create({ model: 'small', max_tokens: 12, messages: [{ role: 'user', content: 'Say hello' }] })));
  const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  const denied = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
  const spent = ok.reduce((s, r) => s + r.usage.total_tokens, 0);
  assert.ok(ok.length > 0, 'some requests fit the budget');
  assert.ok(denied.length > 0, 'the burst exceeds the budget');
  assert.ok(spent <= 300, `spent ${spent} tokens of a 300-token budget`);
  for (const e of denied) {
    assert.ok(e instanceof OpenAI.RateLimitError, String(e));
    assert.ok(e.headers.get('retry-after') !== null);
  }
});

test('a deterministic repeat is answered from the exact cache', async () => {
  const params = { model: 'small', temperature: 0, messages: [{ role: 'user', content: 'Cache me, please' }] };
  const first = await client().chat.completions.create(params).withResponse();
  assert.equal(first.response.headers.get('x-sobre-cache'), 'miss');
  const { data, response } = await client().chat.completions.create(params).withResponse();
  assert.equal(response.headers.get('x-sobre-cache'), 'exact');
  assert.equal(data.choices[0].message.content, first.data.choices[0].message.content);
  assert.ok(data.usage.footprint.avoided_energy_wh > 0);
  assert.ok(data.usage.footprint.energy_wh < data.usage.footprint.avoided_energy_wh);
});
