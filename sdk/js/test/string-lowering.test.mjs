// The string encoder the build puts into componentize-js's bindings
// (tools/string-lowering.mjs): the pinned componentize-js generates the encoder it
// replaces, and the replacement lowers every string to the same bytes, length and single
// allocation as the original.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { FAST_ENCODER, bindingsEncoder, fasterStringLowering } from '../tools/string-lowering.mjs';

const componentizeJs = join(process.env.PLUGBOARD_JS_TOOLS, 'node_modules', '@bytecodealliance', 'componentize-js');
const wit = join(process.cwd(), '..', '..', 'wit', 'v0.1.0');

/** The bindings the pinned componentize-js generates for the plugin world, untouched. */
async function pinnedBindings() {
  const lib = join(componentizeJs, 'lib', 'spidermonkey-embedding-splicer.js');
  const { splicer } = await import(pathToFileURL(lib).href);
  const engine = await readFile(join(componentizeJs, 'lib', 'starlingmonkey_embedding.wasm'));
  return splicer.spliceBindings(engine, ['stdio', 'random', 'clocks'], undefined, wit, 'plugin', false).jsBindings;
}

let pinned;
const bindings = () => (pinned ??= pinnedBindings());

/** The encoder in `text`, made a function of this process. */
function encoder(text) {
  return new Function('TEXT_ENCODER_UTF8', `${text}\nreturn _utf8AllocateAndEncode;`)(new TextEncoder());
}

/** What `encode` makes of `s` in a fresh memory: the length, the allocations, the bytes. */
function lower(encode, s) {
  const memory = { buffer: new ArrayBuffer(16 + 3 * s.length) };
  const allocations = [];
  const realloc = (old, oldSize, align, size) => {
    assert.deepEqual([old, oldSize, align], [0, 0, 1]);
    allocations.push(size);
    return 8;
  };
  const { ptr, len } = encode(s, realloc, memory);
  return { ptr, len, allocations, bytes: Buffer.from(memory.buffer, ptr, len).toString('hex') };
}

const STRINGS = [
  '',
  'a',
  'lorem ipsum '.repeat(86),
  'Grüße, Zoë',
  '€5 — 22.5°C',
  '🌍 and 🎉',
  '日本語のテキスト',
  '\uD800',
  'lone low \uDC00 in the middle',
  'ends in a high surrogate \uD83C',
  '\uD83C\uDF0D\uD83C',
  'x'.repeat(70_000) + '🌍',
];

test('the pinned componentize-js generates the string encoder the build replaces', async () => {
  const original = await bindings();
  const patched = fasterStringLowering(original);
  assert.equal(bindingsEncoder(patched), FAST_ENCODER);
  assert.equal(patched.length - FAST_ENCODER.length, original.length - bindingsEncoder(original).length);
  assert.doesNotMatch(bindingsEncoder(patched), /charCodeAt/);
});

test("the replacement lowers every string to the same bytes, length and one allocation as the bindings' own", async () => {
  const slow = encoder(bindingsEncoder(await bindings()));
  const fast = encoder(FAST_ENCODER);
  for (const s of STRINGS) {
    const expected = lower(slow, s);
    assert.deepEqual(lower(fast, s), expected, JSON.stringify(s.slice(0, 40)));
    assert.equal(expected.bytes, Buffer.from(s, 'utf8').toString('hex'), 'UTF-8, a lone surrogate as U+FFFD');
    assert.equal(expected.allocations.length, s.length === 0 ? 0 : 1);
  }
  assert.throws(() => fast(42, () => 8, { buffer: new ArrayBuffer(8) }), /expected a string, received \[number\]/);
});

test('bindings without the known encoder fail the build, naming the file to review', async () => {
  const changed = (await bindings()).replace('codepoints++;', 'codepoints += 1;');
  assert.throws(() => fasterStringLowering(changed), /string-lowering\.mjs .*its SHA-256 is [0-9a-f]{64}.*update REPLACED_SHA256/);
  assert.throws(() => fasterStringLowering('let x = 1;'), /no single `_utf8AllocateAndEncode` found/);
});
