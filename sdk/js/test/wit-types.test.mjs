// The TypeScript declarations in src/wit are what jco generates from wit/v0.1.0 now; after
// a change of the WIT, regenerate them with
// `node sdk/js/tools/generate-wit-types.mjs --tools <tools folder>`.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { generateWitTypes } from '../tools/generate-wit-types.mjs';

// `plugboard-js.mjs test` runs the tests in the plugin's folder, here sdk/js.
const sdk = process.cwd();

function committed(dir) {
  const files = {};
  const walk = (folder) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(dir, path)] = readFileSync(path, 'utf8');
    }
  };
  walk(dir);
  return files;
}

test('the committed WIT declarations match wit/v0.1.0', async () => {
  const tools = process.env.PLUGBOARD_JS_TOOLS;
  assert.ok(tools, 'PLUGBOARD_JS_TOOLS names the tools folder (plugboard-js.mjs test sets it)');
  const generated = await generateWitTypes(join(sdk, '../../wit/v0.1.0'), tools);
  const current = committed(join(sdk, 'src/wit'));
  const names = new Set([...Object.keys(current), ...Object.keys(generated)]);
  const stale = [...names].filter((name) => current[name] !== generated[name]).sort();
  assert.deepEqual(stale, [], 'these files of src/wit are stale: run `node sdk/js/tools/generate-wit-types.mjs --tools <tools folder>`');
});
