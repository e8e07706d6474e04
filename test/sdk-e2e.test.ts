// What a user does to write a controller, end to end, in a directory outside this repository: this
// repository packed as npm would publish it; `capstan init controller web-guard` with that tarball as
// its capstan dependency; `npm install` from npm's cache; the project type-checked under its own
// tsconfig, its tests run (they start a real etcd), its build run; then the built controller run
// under plain `node` beside a real cluster (etcd and the built-in controllers), objects of its kind
// applied with the `capstan` command, its status watched until the controller writes it, a bad
// field refused in the kind author's words, and SIGTERM answered with exit code 0.
//
// The steps depend on each other and run in order; each is a test of its own so a failure names the
// step. Their durations are printed at the end (npm install dominates).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd } from '../api/etcd.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { Store } from '../api/store.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { BIN } from './helpers/cli.ts';
import { startEtcd, type TestEtcd } from './helpers/etcd.ts';
import { packedCapstan, type PackedCapstan } from './helpers/packed-capstan.ts';
import { until } from './helpers/poll.ts';

const NAME = 'web-guard';
const KIND = 'WebGuard';
const STEP_MS = 300_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a user's shell: this process's, without what vitest and an enclosing `npm test`
 * set (npm reads npm_config_* as its configuration; a nested vitest reads VITEST*).
 */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm_|VITEST|TINYPOOL|NODE_OPTIONS$|NODE_ENV$)/i.test(key)));
  return { ...env, NO_COLOR: '1', CI: 'true', ...extra };
}

/** Runs a command to its end, with no stdin (nothing here may prompt). */
function run(file: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; stdin?: string }): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { cwd: options.cwd, env: options.env, timeout: STEP_MS, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
    child.stdin?.end(options.stdin ?? '');
  });
}

const shown = (result: Run) => `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;

describe('a user writes a controller with `capstan init controller` and the packed SDK', () => {
  let dir: string;
  let home: string;
  let project: string;
  let env: NodeJS.ProcessEnv;
  let packed: PackedCapstan;
  const timings: Record<string, number> = {};
  const started = Date.now();

  async function step<T>(name: string, work: () => Promise<T>): Promise<T> {
    const begun = Date.now();
    try {
      return await work();
    } finally {
      timings[name] = Date.now() - begun;
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'capstan-sdk-e2e-'));
    home = join(dir, 'home');
    project = join(dir, NAME);
    env = userEnv({ HOME: home });
    packed = await step('npm pack (with the prepack build)', () => packedCapstan());
  }, STEP_MS);

  afterAll(() => {
    process.stderr.write(`sdk-e2e: ${JSON.stringify({ ...timings, totalMs: Date.now() - started })}\n`);
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates the project with the repository's `capstan`", async () => {
    const init = await step('capstan init controller', () => run(process.execPath, [BIN, 'init', 'controller', NAME, '--capstan', `file:${packed.tarball}`], { cwd: dir, env }));
    expect(init.code, shown(init)).toBe(0);
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['capstan']).toBe(`file:${packed.tarball}`);
  }, STEP_MS);

  it('installs from the npm cache without a prompt', async () => {
    const install = await step('npm install', () => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: project, env }));
    expect(install.code, shown(install)).toBe(0);
  }, STEP_MS);

  it('type-checks under its own tsconfig', async () => {
    const checked = await step('tsc --noEmit', () => run('npx', ['--no', '--', 'tsc', '--noEmit', '-p', '.'], { cwd: project, env }));
    expect(checked.code, shown(checked)).toBe(0);
  }, STEP_MS);

  it('passes its own tests, which run a real etcd', async () => {
    const tested = await step('npm test', () => run('npm', ['test'], { cwd: project, env }));
    expect(tested.code, shown(tested)).toBe(0);
    expect(tested.stdout).toMatch(/Tests\s+7 passed/);
  }, STEP_MS);

  it('builds', async () => {
    const built = await step('npm run build', () => run('npm', ['run', 'build'], { cwd: project, env }));
    expect(built.code, shown(built)).toBe(0);
  }, STEP_MS);

  describe('the built controller under plain node, beside a real cluster', () => {
    let etcd: TestEtcd;
    let store: Store;
    let builtin: RunningControllers;

    beforeAll(async () => {
      etcd = await startEtcd();
      store = new Store(connectEtcd({ endpoints: etcd.url }), builtinRegistry());
      builtin = await runControllers({ store, leaderElection: false, handleSignals: false, logger: pino({ level: 'silent' }) });
    }, 60_000);

    afterAll(async () => {
      await builtin?.stop();
      store?.client.close();
      await etcd?.stop();
    });

    const capstan = (args: string[], stdin?: string) => run(process.execPath, [BIN, ...args], { cwd: project, env: { ...env, CAPSTAN_ETCD: etcd.url }, ...(stdin !== undefined ? { stdin } : {}) });

    it("writes the status of an applied object, shows the kind author's message for a bad field, and exits 0 on SIGTERM", async () => {
      const child = spawn(process.execPath, ['dist/main.js', '--etcd', etcd.url, '--lease-ttl', '2', '--log-level', 'warn'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const withStderr = (error: Error) => {
        throw new Error(`${error.message}; the controller's stderr: ${stderr}`);
      };
      try {
        // The controller installs its CustomKind when it starts: from then on the CLI knows the kind.
        await step('controller start: CustomKind installed', () =>
          until(async () => (await store.get('CustomKind', { name: `${KIND.toLowerCase()}s` })) !== undefined, { timeoutMs: 30_000, what: `the ${KIND} CustomKind` }).catch(withStderr),
        );

        const app = 'apiVersion: capstan/v1\nkind: App\nmetadata:\n  name: web\nspec:\n  instances: 0\n  driver: process\n  containers:\n    - cmd: sleep 600\n';
        const applied = await capstan(['apply', '-f', '-'], `${app}---\n${readFileSync(join(project, `examples/${NAME}.yaml`), 'utf8')}`);
        expect(applied.code, shown(applied)).toBe(0);

        // No agent runs: the App has no healthy instance, and the example wants one.
        const status = await step('status written', () =>
          until(
            async () => {
              const got = await capstan(['get', KIND.toLowerCase(), `${NAME}-web`, '-o', 'json']);
              const object = got.code === 0 ? (JSON.parse(got.stdout) as { status?: { healthy?: number; conditions?: { type: string; status: string; reason: string }[] } }) : undefined;
              return object?.status?.conditions?.find((c) => c.type === 'Healthy' && c.reason === 'TooFewHealthy') && object.status;
            },
            { timeoutMs: 30_000, intervalMs: 250, what: 'Healthy=False, TooFewHealthy in the status' },
          ).catch(withStderr),
        );
        expect(status).toMatchObject({ healthy: 0, observedGeneration: 1 });
        const table = await capstan(['get', `${KIND.toLowerCase()}s`]);
        expect(table.stdout).toMatch(/NAME\s+APP\s+MIN-HEALTHY\s+HEALTHY/);
        expect(table.stdout).toMatch(new RegExp(`${NAME}-web\\s+web\\s+1\\s+0`));

        // The CLI has none of the project's code: it validates from the CustomKind, in kind.ts's words.
        const refused = await capstan(['apply', '-f', '-'], `apiVersion: capstan/v1\nkind: ${KIND}\nmetadata:\n  name: bad\nspec:\n  app: Not_An_App\n  minHealthy: 1\n`);
        expect(refused.code, shown(refused)).toBe(1);
        expect(refused.stderr).toContain('spec.app: expected the name of an App in this namespace, e.g. "web", found "Not_An_App"');

        child.kill('SIGTERM');
        expect(await step('exit on SIGTERM', () => exited), stderr).toBe(0);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      }
    }, 120_000);
  });
});
