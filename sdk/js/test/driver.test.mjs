// plugboard-js.mjs on small plugins: failures are reported as `file:line:column: error`
// with exit status 1, a wrong command line with 2. (Successful builds take 15 s each;
// the template and example builds cover them.)

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';

// `plugboard-js.mjs test` runs the tests in the plugin's folder, here sdk/js.
const driver = join(process.cwd(), 'tools', 'plugboard-js.mjs');
const wit = join(process.cwd(), '..', '..', 'wit', 'v0.1.0');
const scratch = mkdtempSync(join(tmpdir(), 'plugboard-js-driver-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function plugin(name, files) {
  const folder = join(scratch, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, path)), { recursive: true });
    writeFileSync(join(folder, path), text);
  }
  return folder;
}

function run(folder, ...args) {
  const result = spawnSync(process.execPath, [driver, ...args, '--tools', process.env.PLUGBOARD_JS_TOOLS], {
    cwd: folder,
    encoding: 'utf8',
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

test('a type error fails the build at its line, before any bundling', () => {
  const folder = plugin('typed', {
    'src/plugin.ts': "import { Plugin, definePlugin } from '@plugboard/sdk';\nconst count: number = 'three';\nclass P extends Plugin {}\nexport default definePlugin(P);\n",
  });
  const { status, output } = run(folder, 'build', '--plugin', '.', '--wit', wit, '--out', 'plugin.wasm');
  assert.equal(status, 1, output);
  assert.match(output, /^src\/plugin\.ts:2:7: error: \[TS2322\] Type 'string' is not assignable to type 'number'/m);
  assert.doesNotMatch(output, /bundled/);
});

test('a syntax error fails the build at its line, and the global fetch is pointed out', () => {
  const folder = plugin('broken', {
    'src/plugin.js':
      "import { Plugin, definePlugin } from '@plugboard/sdk';\nclass P extends Plugin {\n  health() { fetch('https://example.org'); return { status: 'healthy', message: '' }; }\n}\nlet = ;\nexport default definePlugin(P);\n",
  });
  const { status, output } = run(folder, 'build', '--plugin', '.', '--wit', wit, '--out', 'plugin.wasm');
  assert.equal(status, 1, output);
  assert.match(output, /^src\/plugin\.js:3:14: warning: the global `fetch` does not work in a Plugboard plugin; use `http\.fetch/m);
  assert.match(output, /^src\/plugin\.js:5:7: error: Unexpected ";"/m);
});

test('a plugin without an entry is told where the entry goes', () => {
  const folder = plugin('empty', { 'README.md': '' });
  const { status, output } = run(folder, 'build', '--plugin', '.', '--wit', wit, '--out', 'plugin.wasm');
  assert.equal(status, 1, output);
  assert.match(output, /has neither src\/plugin\.ts nor src\/plugin\.js/);
});

test('test runs the plugin tests and fails when one fails', () => {
  const folder = plugin('tested', {
    'src/plugin.ts': "import { Plugin, definePlugin } from '@plugboard/sdk';\nexport class P extends Plugin {}\nexport default definePlugin(P);\n",
    'test/plugin.test.ts':
      "import assert from 'node:assert/strict';\nimport { test } from 'node:test';\nimport { implementedHooks } from '@plugboard/sdk';\nimport { P } from '../src/plugin.ts';\n" +
      "test('passes', () => assert.equal(implementedHooks(P).length, 3));\ntest('fails on purpose', () => assert.equal(1, 2));\n",
  });
  const { status, output } = run(folder, 'test', '--plugin', '.');
  assert.equal(status, 1, output);
  assert.match(output, /✔ passes/);
  assert.match(output, /✖ fails on purpose/);
  assert.match(output, /tests failed \(node --test exited with status 1\)/);
});

test('a wrong command line exits with 2 and the usage', () => {
  const { status, output } = run(scratch, 'build', '--plugin', '.');
  assert.equal(status, 2, output);
  assert.match(output, /error: missing --wit <WIT folder>\nusage:/);
});
