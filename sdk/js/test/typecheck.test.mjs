// The SDK's sources type-check (strict) with the pinned TypeScript: plugins are checked
// against them, so an error here would be every TypeScript plugin's.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

test('the SDK type-checks', () => {
  const tools = process.env.PLUGBOARD_JS_TOOLS;
  assert.ok(tools, 'PLUGBOARD_JS_TOOLS names the tools folder (plugboard-js.mjs test sets it)');
  // `plugboard-js.mjs test` runs the tests in the plugin's folder, here sdk/js.
  const tsc = join(tools, 'node_modules', 'typescript', 'bin', 'tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], { encoding: 'utf8' });
  assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
});
