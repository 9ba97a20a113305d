// End-to-end semantic cache: the real `sobre serve` with a model opted in, the fake upstream, and
// the official openai npm SDK: paraphrases answered from the cache (streamed and not), headers,
// the footprint avoided, tenant isolation, and a restart that keeps the cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { children, startListening, stop } from './harness.mjs';

const SOBRE = process.env.SOBRE_BINARY;
const FAKE = process.env.FAKE_UPSTREAM;
assert.ok(SOBRE && FAKE, 'SOBRE_BINARY and FAKE_UPSTREAM must be set');

const KEY_A = 'sk-sobre-e2e-acme-0123456789abcdefghijklmnop';
const KEY_B = 'sk-sobre-e2e-globex-0123456789abcdefghijklm';
let dir;
let upstreamPort;
let gateway;
let base;

async function startGateway() {
  gateway = await startListening(SOBRE, ['serve', '--config', join(dir, 'sobre.yaml'), '--listen', '127.0.0.1:0'],
    { E2E_KEY_A: KEY_A, E2E_KEY_B: KEY_B });
  base = `http://127.0.0.1:${gateway.port}`;
}

async function upstreamCalls() {
  const r = await fetch(`http://127.0.0.1:${upstreamPort}/fake/stats`);
  return (await r.json()).chat_completions;
}

function client(apiKey = KEY_A) {
  return new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 20000 });
}

const ask = (content, extra = {}) => ({ model: 'small', temperature: 0.7, messages: [{ role: 'user', content }], ...extra });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sobre-e2e-semantic-'));
  const up = await startListening(FAKE, ['--port', '0', '--tokens', '12']);
  upstreamPort = up.port;
  writeFileSync(join(dir, 'sobre.yaml'), `
store: sqlite://${join(dir, 'sobre.db')}
site: { zone: FR }
models:
  - { name: small, upstream: http://127.0.0.1:${upstreamPort}/v1, params_b: 0.5, semantic_cache: true }
keys:
  - { name: a, key_env: E2E_KEY_A, tenant: acme }
  - { name: b, key_env: E2E_KEY_B, tenant: globex }
`);
  await startGateway();
});

after(() => {
  for (const c of children) c.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a paraphrase is answered from the semantic cache, with the footprint it avoided', async () => {
  const calls = await upstreamCalls();
  const first = await client().chat.completions.create(ask('How do I reverse a list in Python?')).withResponse();
  assert.equal(first.response.headers.get('x-sobre-cache'), 'miss');
  const { data, response } = await client().chat.completions.create(ask('how can i reverse a list in python')).withResponse();
  const header = response.headers.get('x-sobre-cache');
  assert.match(header, /^semantic; similarity=0\.\d\d$|^semantic; similarity=1\.00$/);
  assert.equal(data.choices[0].message.content, first.data.choices[0].message.content);
  assert.ok(data.usage.footprint.avoided_energy_wh > 0);
  assert.ok(data.usage.footprint.avoided_co2e_g > 0);
  assert.ok(data.usage.footprint.energy_wh < data.usage.footprint.avoided_energy_wh);
  assert.equal(await upstreamCalls(), calls + 1);
});

test('a streamed paraphrase is replayed as SSE with the same semantics as a live answer', async () => {
  const first = await client().chat.completions.create(ask('What is the boiling point of water at sea level?'));
  const stream = await client().chat.completions.create(
    ask('what is the boiling point of water at sea level', { stream: true, stream_options: { include_usage: true } }));
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.choices.length > 0) text += chunk.choices[0].delta.content ?? '';
    else usage = chunk.usage;
  }
  assert.equal(text, first.choices[0].message.content);
  assert.ok(usage && usage.footprint.avoided_energy_wh > 0);
});

test('another tenant never sees the entry, whatever the similarity', async () => {
  const { response } = await client(KEY_B).chat.completions.create(ask('How do I reverse a list in Python?')).withResponse();
  assert.equal(response.headers.get('x-sobre-cache'), 'miss');
});

test('different numbers are not a paraphrase', async () => {
  await client().chat.completions.create(ask('Convert 30 miles to kilometres'));
  const { response } = await client().chat.completions.create(ask('Convert 50 miles to kilometres')).withResponse();
  assert.equal(response.headers.get('x-sobre-cache'), 'miss');
});

test('a restart keeps the semantic cache', async () => {
  await stop(gateway.child);
  await startGateway();
  const calls = await upstreamCalls();
  const { response } = await client().chat.completions.create(ask('How can I reverse a list in Python?')).withResponse();
  assert.match(response.headers.get('x-sobre-cache'), /^semantic; similarity=/);
  assert.equal(await upstreamCalls(), calls);
});
