// Generates the TypeScript declarations of the plugin ABI (wit/v0.1.0, world `plugin`) into
// src/wit/, with `jco guest-types`' generator. The SDK's sources import their types, and
// test/wit-types.test.mjs checks the committed files match the WIT.
//
//   node sdk/js/tools/generate-wit-types.mjs --tools <folder with node_modules> [--wit <dir>] [--out <dir>]
//
// jco 1.35's command line cannot read a WIT folder (its WASI shim opens no directories);
// calling the generator after opening `/` for it works.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The generated files of `witDir`, as a map of relative path to text. */
export async function generateWitTypes(witDir, toolsDir) {
  const require = createRequire(join(resolve(toolsDir), 'node_modules', '.package-lock.json'));
  const transpileEntry = require.resolve('@bytecodealliance/jco-transpile');
  const transpileRequire = createRequire(transpileEntry);
  const shim = transpileRequire.resolve('@bytecodealliance/preview2-shim/filesystem');
  const { _setPreopens } = await import(pathToFileURL(shim).href);
  _setPreopens({ '/': '/' });
  const { generateGuestTypes } = await import(pathToFileURL(transpileEntry).href);
  const files = await generateGuestTypes(resolve(witDir), { worldName: 'plugin', name: 'plugin', guest: true });
  const decoder = new TextDecoder();
  return Object.fromEntries(Object.entries(files).map(([path, bytes]) => [path, decoder.decode(bytes)]));
}

function option(args, name, fallback) {
  const index = args.indexOf(name);
  if (index >= 0 && args[index + 1]) return args[index + 1];
  if (fallback !== undefined) return fallback;
  throw new Error(`missing ${name} <path>`);
}

// Run as a program (not imported, nor bundled into a test).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url) && import.meta.url.endsWith('/generate-wit-types.mjs')) {
  const args = process.argv.slice(2);
  const tools = option(args, '--tools');
  const wit = option(args, '--wit', join(here, '../../../wit/v0.1.0'));
  const out = option(args, '--out', join(here, '../src/wit'));
  const files = await generateWitTypes(wit, tools);
  await rm(out, { recursive: true, force: true });
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(out, path)), { recursive: true });
    await writeFile(join(out, path), text);
  }
  console.error(`wrote ${Object.keys(files).length} files to ${out}`);
}
