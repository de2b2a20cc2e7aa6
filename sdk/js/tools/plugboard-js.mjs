#!/usr/bin/env node
// Builds and tests Plugboard plugins written in TypeScript or JavaScript. The `plugboard`
// CLI runs it with Node.js; it can also be run by hand:
//
//   node plugboard-js.mjs build --plugin <folder> --wit <wit dir> --out <component.wasm> --tools <dir>
//                               [--world <name> --imports <host interfaces, comma-separated>]
//   node plugboard-js.mjs test  --plugin <folder> --tools <dir>
//
// `--tools` is a folder whose node_modules holds the pinned build tools (an `npm ci` of
// sdk/js/toolchain); PLUGBOARD_JS_TOOLS is used when it is not given.
//
// build: type-checks a TypeScript plugin (tsc), bundles its entry (src/plugin.ts or
// src/plugin.js) with this SDK into one ES module (esbuild; the `plugboard:plugin/*` ABI
// imports stay imports), and makes a component of it for world `plugin` of the WIT
// (componentize-js, without its wasi:http features, which the host does not link, and
// with its bindings' string encoder replaced by a faster one: see string-lowering.mjs).
// test: bundles each test/*.test.{ts,js,mjs} with the SDK and runs them with `node --test`.
//
// Errors are printed as `file:line:column: error: message`; the exit status is 1 when the
// build or a test failed, 2 when the command line was wrong.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { useFasterStringLowering } from './string-lowering.mjs';

const SDK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SDK_ENTRIES = {
  '@plugboard/sdk': join(SDK_DIR, 'src/index.ts'),
  '@plugboard/sdk/testing': join(SDK_DIR, 'src/testing/index.ts'),
  '@plugboard/sdk/component': join(SDK_DIR, 'src/component.ts'),
};
/** The ABI's interfaces a plugin exports, by their names in JavaScript. */
const EXPORTS = [
  'lifecycle', 'filters', 'events', 'tools', 'provider', 'exporter', 'httpHandler', 'commands', 'scheduler', 'accountEvents',
];

class UsageError extends Error {}
class BuildError extends Error {}

function parseArgs(argv) {
  const [command, ...rest] = argv;
  const options = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument \`${arg}\``);
    const value = rest[i + 1];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`${arg} needs a value`);
    options[arg.slice(2)] = value;
    i++;
  }
  return { command, options };
}

/** `path` as the user reads it best: relative to the working directory when inside it. */
function shown(path) {
  const relativePath = relative(process.cwd(), path);
  return relativePath.startsWith('..') ? path : relativePath;
}

function required(options, name, what) {
  if (!options[name]) throw new UsageError(`missing --${name} <${what}>`);
  return resolve(options[name]);
}

/** The folder holding the pinned tools, checked to have them. */
function toolsDir(options) {
  const dir = options.tools ?? process.env.PLUGBOARD_JS_TOOLS;
  if (!dir) throw new UsageError('missing --tools <folder with node_modules> (or PLUGBOARD_JS_TOOLS)');
  const tools = resolve(dir);
  for (const name of ['esbuild', '@bytecodealliance/componentize-js']) {
    if (!existsSync(join(tools, 'node_modules', name, 'package.json'))) {
      throw new UsageError(
        `${tools} has no node_modules/${name}; install the tools there with \`npm ci --prefix ${tools}\` after copying sdk/js/toolchain/package.json and package-lock.json into it`,
      );
    }
  }
  return tools;
}

/** Imports package `name` from the tools' node_modules (its ESM entry). */
async function importTool(tools, name) {
  const folder = join(tools, 'node_modules', name);
  const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
  const exported = manifest.exports?.['.'] ?? manifest.exports;
  const entry =
    (typeof exported === 'string' ? exported : exported?.import?.default ?? exported?.import ?? exported?.default) ??
    manifest.module ??
    manifest.main ??
    'index.js';
  return import(pathToFileURL(join(folder, typeof entry === 'string' ? entry : entry.default)).href);
}

/** An esbuild plugin resolving `@plugboard/sdk` (and its subpaths) to this SDK's sources. */
function sdkResolver() {
  return {
    name: 'plugboard-sdk',
    setup(build) {
      build.onResolve({ filter: /^@plugboard\/sdk(\/.*)?$/ }, (args) => {
        const path = SDK_ENTRIES[args.path];
        if (path === undefined) {
          return { errors: [{ text: `\`${args.path}\` is not part of the SDK; use @plugboard/sdk or @plugboard/sdk/testing` }] };
        }
        return { path };
      });
    },
  };
}

/**
 * The functions of each host interface that a manifest's permissions may leave out, and
 * the permission (by function) the host would ask for. `plugboard plugin build` builds
 * for a world importing only what the manifest grants (`--imports`); the SDK's imports of
 * the others resolve to stand-ins that refuse each call as the host refuses it.
 */
const OPTIONAL_IMPORTS = {
  kv: { permission: () => 'kv', functions: ['get', 'set', 'delete', 'listKeys', 'compareAndSet'] },
  'http-client': { permission: () => 'network', functions: ['fetch'] },
  ai: { permission: () => 'ai', functions: ['complete'] },
  chat: {
    permission: (name) => ({
      getConversation: 'channels.read',
      createConversation: 'channels.write',
      listMessages: 'messages.read',
      getUser: 'users.read',
      readFile: 'files.read',
      writeFile: 'files.write',
    })[name] ?? 'messages.write',
    functions: ['getConversation', 'createConversation', 'listMessages', 'postMessage', 'editMessage', 'deleteMessage', 'getUser', 'readFile', 'writeFile'],
  },
  plugins: { permission: () => null, functions: ['callTool'] },
};

/** An esbuild plugin: the host interfaces not in `imports` become modules whose functions refuse. */
function notGranted(imports) {
  return {
    name: 'plugboard-not-granted',
    setup(build) {
      build.onResolve({ filter: /^plugboard:plugin\/[a-z-]+@0\.1\.0$/ }, (args) => {
        const name = args.path.slice('plugboard:plugin/'.length, args.path.indexOf('@'));
        if (imports.includes(name) || !(name in OPTIONAL_IMPORTS)) return { path: args.path, external: true };
        return { path: name, namespace: 'plugboard-not-granted' };
      });
      build.onLoad({ filter: /.*/, namespace: 'plugboard-not-granted' }, (args) => {
        const { permission, functions } = OPTIONAL_IMPORTS[args.path];
        const lines = functions.map((fn, index) => {
          const needs = permission(fn);
          const message = needs === null
            ? 'this plugin may only call plugins it depends on; add `<plugin id> = "<version range>"` to `[dependencies]` in plugin.toml'
            : `this plugin needs permission \`${needs}\` for this; add "${needs}" to \`permissions\` in plugin.toml`;
          const error = `Object.assign(new Error(${JSON.stringify(message)}), { payload: { kind: 'permission-denied', message: ${JSON.stringify(message)} } })`;
          return `function refuse${index}() { throw ${error}; }\nexport { refuse${index} as ${fn} };`;
        });
        return { contents: lines.join('\n'), loader: 'js' };
      });
    },
  };
}

const GLOBAL_FETCH = /(?<![.\w$])fetch\s*\(/g;

/** An esbuild plugin warning about calls of the global `fetch` in the plugin's own files. */
function fetchCheck(pluginDir) {
  return {
    name: 'plugboard-no-fetch',
    setup(build) {
      build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, (args) => {
        if (!args.path.startsWith(pluginDir + '/') || args.path.includes('/node_modules/')) return undefined;
        const text = readFileSync(args.path, 'utf8');
        const warnings = [];
        for (const match of text.matchAll(GLOBAL_FETCH)) {
          const before = text.slice(0, match.index);
          const line = before.split('\n').length;
          const lineText = text.split('\n')[line - 1];
          if (/^\s*(\/\/|\*)/.test(lineText)) continue;
          warnings.push({
            text: "the global `fetch` does not work in a Plugboard plugin; use `http.fetch(url, {method, headers, body})` (or `http.get`, `http.post`) from '@plugboard/sdk'",
            location: { file: shown(args.path), line, column: match.index - before.lastIndexOf('\n') - 1, lineText },
          });
        }
        return warnings.length > 0 ? { warnings, contents: text, loader: args.path.endsWith('ts') ? 'ts' : 'js' } : undefined;
      });
    },
  };
}

function formatMessage(kind, message) {
  const where = message.location
    ? `${message.location.file}:${message.location.line}:${message.location.column + 1}: `
    : '';
  const plugin = message.pluginName && kind === 'error' && !message.location ? ` [${message.pluginName}]` : '';
  return `${where}${kind}: ${message.text}${plugin}`;
}

async function bundle(tools, options) {
  const esbuild = await importTool(tools, 'esbuild');
  try {
    const result = await esbuild.build({ logLevel: 'silent', ...options });
    for (const warning of result.warnings) console.error(formatMessage('warning', warning));
    return result;
  } catch (error) {
    if (Array.isArray(error.errors)) {
      for (const warning of error.warnings ?? []) console.error(formatMessage('warning', warning));
      throw new BuildError(error.errors.map((e) => formatMessage('error', e)).join('\n'));
    }
    throw error;
  }
}

function entryOf(pluginDir) {
  for (const name of ['src/plugin.ts', 'src/plugin.js']) {
    if (existsSync(join(pluginDir, name))) return join(pluginDir, name);
  }
  throw new BuildError(`${pluginDir} has neither src/plugin.ts nor src/plugin.js, the plugin's entry`);
}

/** Type-checks a TypeScript plugin's sources (not its tests) against the SDK's types. */
async function typeCheck(tools, pluginDir, work) {
  const tsc = join(tools, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) throw new UsageError(`${tools} has no node_modules/typescript, needed to type-check TypeScript`);
  const config = {
    compilerOptions: {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      allowImportingTsExtensions: true,
      noEmit: true,
      strict: true,
      isolatedModules: true,
      skipLibCheck: true,
      lib: ['ES2022'],
      types: [],
      paths: Object.fromEntries(Object.entries(SDK_ENTRIES).map(([name, path]) => [name, [path]])),
    },
    include: [join(pluginDir, 'src/**/*.ts'), join(SDK_DIR, 'src/globals.d.ts')],
  };
  const configPath = join(work, 'tsconfig.json');
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const run = spawnSync(process.execPath, [tsc, '-p', configPath, '--pretty', 'false'], { encoding: 'utf8' });
  if (run.status !== 0) {
    const lines = `${run.stdout}${run.stderr}`
      .trim()
      .split('\n')
      .map((line) => line.replace(/^(.+?)\((\d+),(\d+)\): error (TS\d+): /, (_m, file, l, c, code) =>
        `${shown(resolve(file))}:${l}:${c}: error: [${code}] `));
    throw new BuildError(lines.join('\n') || `tsc failed with status ${run.status}`);
  }
}

async function build(options) {
  const pluginDir = required(options, 'plugin', 'plugin folder');
  const witDir = required(options, 'wit', 'WIT folder');
  const world = options.world ?? 'plugin';
  const imports = options.imports === undefined ? Object.keys(OPTIONAL_IMPORTS) : options.imports.split(',').filter(Boolean);
  const out = required(options, 'out', 'component path');
  const tools = toolsDir(options);
  const entry = entryOf(pluginDir);
  const started = performance.now();
  const work = await mkdtemp(join(tmpdir(), 'plugboard-js-'));
  try {
    if (entry.endsWith('.ts')) {
      await typeCheck(tools, pluginDir, work);
      console.error(`type-checked in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    const bundled = join(work, 'plugin.bundle.js');
    const lines = [
      "import '@plugboard/sdk/component';",
      `import plugin from ${JSON.stringify(entry)};`,
      "if (plugin === null || typeof plugin !== 'object' || typeof plugin.lifecycle !== 'object') {",
      `  throw new Error(${JSON.stringify(`${shown(entry)} must end with \`export default definePlugin(YourPlugin)\``)});`,
      '}',
      ...EXPORTS.map((name) => `export const ${name} = plugin.${name};`),
    ];
    const bundleStarted = performance.now();
    await bundle(tools, {
      stdin: { contents: lines.join('\n'), resolveDir: pluginDir, sourcefile: 'plugboard-entry.js', loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      mainFields: ['module', 'main'],
      conditions: ['import', 'default'],
      outfile: bundled,
      plugins: [sdkResolver(), notGranted(imports), fetchCheck(pluginDir)],
      legalComments: 'none',
    });
    const bundleSize = (await stat(bundled)).size;
    console.error(`bundled ${shown(entry)} (${bundleSize} bytes) in ${((performance.now() - bundleStarted) / 1000).toFixed(1)} s`);

    const componentizeStarted = performance.now();
    const { componentize } = await importTool(tools, '@bytecodealliance/componentize-js');
    await useFasterStringLowering(tools);
    let component;
    try {
      ({ component } = await componentize({
        sourcePath: bundled,
        witPath: witDir,
        worldName: world,
        disableFeatures: ['http', 'fetch-event'],
      }));
    } catch (error) {
      throw new BuildError(`componentize-js could not make a component of ${shown(entry)}:\n${error.message ?? error}`);
    }
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, component);
    const seconds = (performance.now() - componentizeStarted) / 1000;
    console.error(`componentized in ${seconds.toFixed(1)} s: ${out} (${(component.length / 1e6).toFixed(1)} MB)`);
    console.error(`built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function test(options) {
  const pluginDir = required(options, 'plugin', 'plugin folder');
  const tools = toolsDir(options);
  const testDir = join(pluginDir, 'test');
  const files = existsSync(testDir)
    ? readdirSync(testDir).filter((name) => /\.test\.(ts|js|mjs)$/.test(name)).sort()
    : [];
  if (files.length === 0) throw new BuildError(`${testDir} has no *.test.ts or *.test.js files`);
  const work = await mkdtemp(join(tmpdir(), 'plugboard-js-test-'));
  try {
    await bundle(tools, {
      entryPoints: files.map((name) => join(testDir, name)),
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      outdir: work,
      outExtension: { '.js': '.mjs' },
      sourcemap: 'inline',
      plugins: [sdkResolver()],
      // Tests may use packages the plugin depends on; they come from its node_modules.
      nodePaths: [join(pluginDir, 'node_modules')],
    });
    const bundles = files.map((name) => join(work, name.replace(/\.(ts|js|mjs)$/, '.mjs')));
    const run = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-reporter=spec', ...bundles], {
      stdio: 'inherit',
      cwd: pluginDir,
      // Without NODE_TEST_CONTEXT: set when this runs inside another `node --test`, it would
      // make the inner runner skip the files.
      env: { ...withoutTestContext(process.env), PLUGBOARD_JS_TOOLS: tools },
    });
    if (run.status !== 0) throw new BuildError(`tests failed (node --test exited with status ${run.status})`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function withoutTestContext(env) {
  const { NODE_TEST_CONTEXT: _context, ...rest } = env;
  return rest;
}

const USAGE = `usage:
  plugboard-js.mjs build --plugin <folder> --wit <wit dir> --out <component.wasm> [--tools <dir>]
  plugboard-js.mjs test --plugin <folder> [--tools <dir>]`;

try {
  const { command, options } = parseArgs(process.argv.slice(2));
  if (command === 'build') await build(options);
  else if (command === 'test') await test(options);
  else throw new UsageError(command ? `unknown command \`${command}\`` : 'no command');
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`error: ${error.message}\n${USAGE}`);
    process.exit(2);
  }
  if (error instanceof BuildError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
