#!/usr/bin/env node
// The `capstan` command: cli/main.ts. In this repository it runs from a cached esbuild bundle of the
// sources (see bundle.js), or through tsx's loader when no bundle can be made: either way `capstan`
// works right after `npm ci`. An installed package has no sources, only the CLI built when it was
// packed (dist/cli/main.mjs, scripts/build-package.mjs). The sources win when both exist: a dist/
// left in a checkout by `npm pack` is a snapshot, and must not hide an edit.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundled } from './bundle.js';

const SOURCES = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const PACKED = new URL('../dist/cli/main.mjs', import.meta.url);

async function entry() {
  if (!existsSync(SOURCES)) return PACKED.href;
  try {
    return pathToFileURL(await bundled('cli/main.ts')).href;
  } catch (error) {
    // Slower, but the same command: say why only when asked, the user's command is not about it.
    if (process.env.CAPSTAN_DEBUG) process.stderr.write(`capstan: running through tsx, the bundle could not be made: ${error.message}\n`);
    const { register } = await import('tsx/esm/api');
    register();
    return '../cli/main.ts';
  }
}

await import(await entry());
