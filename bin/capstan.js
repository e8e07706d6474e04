#!/usr/bin/env node
// The `capstan` command. TypeScript sources run through tsx's loader so that `npx capstan` works
// right after `npm ci`, with no build step and no build output in the tree.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
