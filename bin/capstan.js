#!/usr/bin/env node
// The `capstan` command: cli/main.ts, run from a cached esbuild bundle (see bundle.js), or through
// tsx's loader when no bundle can be made. Either way `npx capstan` works right after `npm ci`.
import { pathToFileURL } from 'node:url';
import { bundled } from './bundle.js';

let entry;
try {
  entry = pathToFileURL(await bundled('cli/main.ts')).href;
} catch {
  const { register } = await import('tsx/esm/api');
  register();
  entry = '../cli/main.ts';
}
await import(entry);
