// `capstan controllers --module PATH`, as a user runs it: bin/capstan.js in a child process against a
// real etcd, loading an ES module from a directory outside the repository. One module needs nothing
// from capstan (plain definitions and result objects); another imports `capstan/sdk` the way an
// installed package does — through its exports, the built dist/ — and defines its kind with defineKind,
// whose CustomKind the manager must install. The errors a person can make are one sentence, exit 2.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, capstan, REPO, spawnCapstan } from './helpers/cli.ts';
import { startEtcd, type TestEtcd } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';
import { packedCapstan } from './helpers/packed-capstan.ts';

const DEADLINE_MS = 30_000;

/** No import at all: a controller is plain data, and a result is `{ kind: 'done' }`. */
const PLAIN = `
export const controllers = () => [{
  name: 'greeter',
  watches: [{ kind: 'Database' }],
  async reconcile(key, ctx) {
    const database = ctx.informer('Database').get(key);
    if (database) await ctx.updateStatus(database, { greeting: 'hello ' + database.spec.engine });
    return { kind: 'done' };
  },
}];
`;

/** What a user writes against the SDK, in JavaScript: its kind defined once, in code. */
const WITH_SDK = `
import { defineKind, done } from 'capstan/sdk';
import { z } from 'zod';

export const greetingKind = defineKind({
  kind: 'Greeting',
  spec: z.object({ name: z.string().min(1, 'a name to greet') }),
  status: z.object({ message: z.string() }).partial(),
  columns: [{ header: 'Message', jsonPath: '.status.message' }],
});

export const kinds = [greetingKind];

export const controllers = [{
  name: 'greetings',
  watches: [{ kind: greetingKind }],
  async reconcile(key, ctx) {
    const greeting = ctx.informer(greetingKind).get(key);
    if (greeting) await ctx.updateStatus(greeting, { message: 'hello ' + greeting.spec.name });
    return done();
  },
}];
`;

const DATABASES = `apiVersion: capstan/v1
kind: CustomKind
metadata: {name: databases}
spec:
  names: {kind: Database, plural: databases}
  schema:
    type: object
    properties:
      engine: {type: string}
    required: [engine]
---
apiVersion: capstan/v1
kind: Database
metadata: {name: orders}
spec: {engine: postgres}
`;

let etcd: TestEtcd;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  dir = mkdtempSync(join(tmpdir(), 'capstan-controllers-module-'));
  const files: Record<string, string> = {
    'greeter.mjs': PLAIN,
    'greetings.mjs': WITH_SDK,
    'databases.yaml': DATABASES,
    'rollout.ts': `const name: string = 'rollout';\nexport const controllers = [{ name, watches: [{ kind: 'App' }], reconcile: async () => ({ kind: 'done' as const }) }];\n`,
    'unknown-kind.mjs': `export const controllers = [{ name: 'lost', watches: [{ kind: 'Nope' }], reconcile: async () => ({ kind: 'done' }) }];\n`,
    'package.json': JSON.stringify({ name: 'my-controllers', private: true, type: 'module' }),
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  // As an install would: capstan unpacked from its tarball (so the built dist/, resolved through its
  // exports; a snapshot that later packs of the checkout cannot change under the test), and its
  // dependencies, zod among them, from this repository's node_modules.
  const { tarball } = await packedCapstan();
  const installed = join(dir, 'node_modules', 'capstan');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  for (const entry of readdirSync(join(REPO, 'node_modules'))) {
    if (entry.startsWith('.') || entry === 'capstan') continue;
    symlinkSync(join(REPO, 'node_modules', entry), join(dir, 'node_modules', entry));
  }
}, 360_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `capstan controllers ...` in the background; stop() interrupts it as Ctrl-C does and resolves with its exit code. */
function startControllersProcess(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'controllers', '--lease-ttl', '2', ...args], {
    cwd: dir,
    env: { ...process.env, CAPSTAN_ETCD: etcd.url, NO_COLOR: '1', HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    stderr: () => stderr,
    stop: async () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

/** A bounded wait that, when it runs out, shows what the controllers logged. */
async function waitFor(running: { stderr(): string }, what: string, check: () => Promise<boolean>): Promise<void> {
  try {
    await until(check, { timeoutMs: DEADLINE_MS, what });
  } catch (error) {
    throw new Error(`${(error as Error).message}; the controllers said:\n${running.stderr()}`);
  }
}

const cli = (...args: string[]) => capstan(args, { etcd: etcd.url, cwd: dir });

async function statusOf(resource: string): Promise<Record<string, unknown> | undefined> {
  const got = await cli('get', resource, '-o', 'json');
  return got.code === 0 ? (JSON.parse(got.stdout) as { status?: Record<string, unknown> }).status : undefined;
}

describe('capstan controllers --module', () => {
  it("runs a module's controller that imports nothing, beside the manager, until Ctrl-C", async () => {
    expect((await cli('apply', '-f', 'databases.yaml')).code).toBe(0);
    const running = startControllersProcess(['--only', 'greeter', '--module', './greeter.mjs']);
    try {
      await waitFor(running, "the greeter's status on database/orders", async () => (await statusOf('database/orders'))?.['greeting'] === 'hello postgres');
      expect(running.stderr()).toMatch(/running greeter against /);
    } finally {
      expect(await running.stop()).toBe(0);
    }
  });

  it('runs a module that imports capstan/sdk (the built one): its kind installed as a CustomKind, its status written', async () => {
    const running = startControllersProcess(['--only', 'greetings,greeter', '--module', './greetings.mjs', '--module', 'greeter.mjs']);
    try {
      await waitFor(running, 'customkind/greetings installed', async () => (await cli('get', 'customkind', 'greetings')).code === 0);
      writeFileSync(join(dir, 'hello.yaml'), 'apiVersion: capstan/v1\nkind: Greeting\nmetadata: {name: world}\nspec: {name: world}\n');
      expect(await cli('apply', '-f', 'hello.yaml')).toMatchObject({ code: 0, stdout: 'greeting/world created\n' });
      await waitFor(running, 'the greetings status on greeting/world', async () => (await statusOf('greeting/world'))?.['message'] === 'hello world');
      expect((await cli('get', 'greetings')).stdout).toMatch(/^NAME\s+MESSAGE\s+AGE\nworld\s+hello world\s/);
      // zod's own message reaches `capstan apply` through the installed CustomKind.
      writeFileSync(join(dir, 'nameless.yaml'), 'apiVersion: capstan/v1\nkind: Greeting\nmetadata: {name: nobody}\nspec: {name: ""}\n');
      const refused = await cli('apply', '-f', 'nameless.yaml');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('a name to greet');
    } finally {
      expect(await running.stop()).toBe(0);
    }
  });

  it.each([
    { case: 'a missing file', args: ['--module', './nowhere.mjs'], error: /^--module \.\/nowhere\.mjs: no such file \/.*\/nowhere\.mjs; pass the path of an ES module/ },
    { case: 'a TypeScript controller named like a built-in one', args: ['--module', './rollout.ts'], error: /^--module \/.*\/rollout\.ts: controller "rollout" has the name of a built-in controller: .*rename it$/ },
    { case: 'a watched kind no one registered', args: ['--module', './unknown-kind.mjs'], error: /^--module \/.*\/unknown-kind\.mjs: controller lost watches kind "Nope", which this process does not know: define it with defineKind/ },
  ])('refuses $case in one sentence, exit 2', async ({ args, error }) => {
    const result = await spawnCapstan(['controllers', ...args], { cwd: dir, env: { CAPSTAN_ETCD: etcd.url, HOME: dir } });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(error);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
