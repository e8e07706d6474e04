#!/usr/bin/env node
// The `capstan` command: cli/main.ts, run from a cached esbuild bundle (see bundle.js), or through
// tsx's loader when no bundle can be made. Either way `capstan` works right after `npm ci`.
import { pathToFileURL } from 'node:url';
import { bundled } from './bundle.js';

let entry;
try {
  entry = pathToFileURL(await bundled('cli/main.ts')).href;
} catch (error) {
  // Slower, but the same command: say why only when asked, the user's command is not about it.
  if (process.env.CAPSTAN_DEBUG) process.stderr.write(`capstan: running through tsx, the bundle could not be made: ${error.message}\n`);
  const { register } = await import('tsx/esm/api');
  register();
  entry = '../cli/main.ts';
}
await import(entry);
