// `capstan apply` as a user meets it, on a real etcd: the inventory an object belongs to changes only
// when --inventory names another (applying the same content from another path or stdin is
// `unchanged`), --prune works within one inventory, a later apply sets back what `capstan scale`
// changed, and every problem of a file is listed in one run. Then the demo's tasks, run by a real
// agent (web in Docker, echo and ticker as processes), print to `capstan logs`.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AppSpec } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { parseManifests } from '../api/manifest.ts';
import type { CapstanObject } from '../api/object.ts';
import { INVENTORY_LABEL } from '../api/apply/plan.ts';
import { readInventory } from '../api/apply/inventory.ts';
import { capstan, REPO, spawnCapstan } from './helpers/cli.ts';
import { TestCluster } from './helpers/cluster.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';
import { appYaml } from './helpers/manifests.ts';

type App = CapstanObject<AppSpec>;

/** Every manifest here sets instances (1 unless given), so apply enforces it. */
const app = (name: string, options: { instances?: number } = {}) => appYaml(name, { instances: 1, ...options });

describe('capstan apply on a real etcd', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let dir: string;
  const run = (args: string[], stdin?: string) => capstan(args, { etcd: db.etcd.url, cwd: dir, ...(stdin !== undefined ? { stdin } : {}) });
  const write = (file: string, text: string) => {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), text);
    return file;
  };
  const getApp = (name: string) => db.store.get<App>('App', { namespace: 'default', name });
  const inventoryOf = async (name: string) => (await getApp(name))?.metadata.labels?.[INVENTORY_LABEL];
  const recorded = async (inventory: string) => (await readInventory(db.client, 'default', inventory))?.entries.map((e) => e.name).sort();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'capstan-apply-'));
    return () => rmSync(dir, { recursive: true, force: true });
  });

  describe('inventory', () => {
    it('re-applying identical content from another path or from stdin is unchanged and keeps the inventory', async () => {
      write('apps/web.yaml', app('web'));
      write('elsewhere/web.yaml', app('web'));
      expect(await run(['apply', '-f', 'apps'])).toMatchObject({ code: 0, stdout: 'app/web created\n' });
      const created = await getApp('web');

      expect(await run(['apply', '-f', 'elsewhere/web.yaml'])).toMatchObject({ code: 0, stdout: 'app/web unchanged\n', stderr: '' });
      expect(await run(['apply', '-f', '-'], app('web'))).toMatchObject({ code: 0, stdout: 'app/web unchanged\n', stderr: '' });

      expect((await getApp('web'))?.metadata.resourceVersion).toBe(created?.metadata.resourceVersion);
      expect(await inventoryOf('web')).toBe('apps');
      expect(await recorded('apps')).toEqual(['web']);
      // No inventory was started for the other paths: nothing there for a --prune to act on.
      expect(await recorded('stdin')).toBeUndefined();
      expect(await recorded('elsewhere-web-yaml')).toBeUndefined();
    });

    it('--inventory NAME moves an object, and nothing else does', async () => {
      write('apps/web.yaml', app('web'));
      write('apps/db.yaml', app('db'));
      await run(['apply', '-f', 'apps']);

      const moved = await run(['apply', '-f', '-', '--inventory', 'shop'], app('web'));
      expect(moved).toMatchObject({ code: 0, stdout: 'app/web configured\n' });
      expect(await inventoryOf('web')).toBe('shop');
      expect(await recorded('shop')).toEqual(['web']);
      expect(await recorded('apps')).toEqual(['db']);

      // Applying the directory again leaves web where it was moved to.
      expect((await run(['apply', '-f', 'apps'])).stdout).toBe('app/db unchanged\napp/web unchanged\n');
      expect(await inventoryOf('web')).toBe('shop');
    });

    it('--prune deletes only within the inventory it works in', async () => {
      write('set/a.yaml', app('a'));
      write('set/b.yaml', app('b'));
      write('other.yaml', app('x'));
      await run(['apply', '-f', 'set', '--inventory', 'shop']);
      await run(['apply', '-f', 'other.yaml']);
      expect(await inventoryOf('x')).toBe('other-yaml');

      // Without --inventory the input's derived inventory (stdin) is pruned: it holds nothing, and the
      // objects of the input that belong to shop are named as outside it.
      const derived = await run(['apply', '-f', '-', '--prune'], app('a'));
      expect(derived).toMatchObject({ code: 0, stdout: 'app/a unchanged\n' });
      expect(derived.stderr).toMatch(/--prune works within inventory stdin; .* app\/a \(shop\)/);
      expect(await getApp('b')).toBeDefined();

      const named = await run(['apply', '-f', '-', '--prune', '--inventory', 'shop'], app('a'));
      expect(named).toMatchObject({ code: 0, stdout: 'app/a unchanged\napp/b pruned\n', stderr: '' });
      expect(await getApp('b')).toBeUndefined();
      expect(await getApp('x')).toBeDefined();
      expect(await recorded('shop')).toEqual(['a']);
      expect(await recorded('other-yaml')).toEqual(['x']);
    });

    it('documents what --inventory and --prune do in --help', async () => {
      const help = (await spawnCapstan(['apply', '--help'])).stdout.replace(/\s+/g, ' ');
      expect(help).toContain('Default: an object keeps the inventory it has');
      expect(help).toContain('never those of another inventory');
    });
  });

  it('sets instances back to the manifest after capstan scale, without moving the App', async () => {
    write('web.yaml', app('web', { instances: 2 }));
    await run(['apply', '-f', 'web.yaml']);
    expect((await run(['scale', 'web', '5'])).code).toBe(0);
    expect((await getApp('web'))?.spec.instances).toBe(5);
    expect(await inventoryOf('web')).toBe('web-yaml');

    expect(await run(['apply', '-f', 'web.yaml'])).toMatchObject({ code: 0, stdout: 'app/web configured\n' });
    expect((await getApp('web'))?.spec.instances).toBe(2);
    expect(await inventoryOf('web')).toBe('web-yaml');
  });

  describe('validation', () => {
    it('lists schema problems and operator values of one document in one run, with positions and spellings', async () => {
      write(
        'bad.yaml',
        [
          'apiVersion: capstan/v1',
          'kind: App',
          'metadata: {name: web}',
          'spec:',
          '  instances: many',
          '  driver: process',
          '  containers:',
          '    - comand: sleep 60',
          '  constraints: [[rack, GROUP_BY, many], [hostname, uniqe]]',
          '',
        ].join('\n'),
      );
      const result = await run(['apply', '-f', 'bad.yaml']);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toEqual([
        'bad.yaml:5:3: spec.instances: expected a number, found "many"',
        expect.stringMatching(/^bad\.yaml:8:7: spec\.containers\[0\]\.comand: expected a known field \(.*\), found unknown field "comand" \(did you mean "cmd"\?\)$/),
        'bad.yaml:9:34: spec.constraints[0][2]: expected an integer for GROUP_BY (the least number of values to spread over, e.g. "3"), or no value, found "many"',
        expect.stringMatching(/^bad\.yaml:9:52: spec\.constraints\[1\]\[1\]: expected one of UNIQUE, .*, found "uniqe" \(did you mean "UNIQUE"\?\)$/),
        '4 problems in 1 file: nothing was applied',
      ]);
      expect(await getApp('web')).toBeUndefined();
    });

    it('lists the operator-value problems of test/fixtures/invalid with its schema problems', async () => {
      const result = await capstan(['apply', '-f', 'test/fixtures/invalid'], { etcd: db.etcd.url });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^test\/fixtures\/invalid\/apps\.yaml:\d+:\d+: spec\.constraints\[1\]\[2\]: expected an integer for GROUP_BY/m);
      expect(result.stderr).toMatch(/spec\.constraints\[0\]\[1\]: .*found "uniqe" \(did you mean "UNIQUE"\?\)/);
      expect(result.stderr).toMatch(/spec\.containers\[0\]\.comand: .*\(did you mean "cmd"\?\)/);
      expect(result.stderr).toMatch(/spec\.instancez: .*\(did you mean "instances"\?\)/);
    });
  });
});

describe("the demo's tasks write to capstan logs", () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start({ suite: 'cli-apply', namespace: 'demo', docker: true, nodes: [{ name: 'capp-n1', ports: '24620-24639' }] });
  }, 120_000);
  afterAll(async () => {
    await cluster?.reset();
    await cluster?.stop();
  }, 60_000);

  /**
   * The demo's Apps as manifests/demo declares them, with one instance each and without ticker's wait
   * for web (the test reads each App's own logs; the load balancer and health of web are not its point).
   */
  function demoApps(): Map<string, Record<string, unknown>> {
    const apps = new Map<string, Record<string, unknown>>();
    for (const file of ['manifests/demo/web.yaml', 'manifests/demo/worker.yaml']) {
      const { documents } = parseManifests(readFileSync(join(REPO, file), 'utf8'), file);
      for (const doc of documents) {
        const value = doc.value as { metadata: { name: string }; spec: Record<string, unknown> };
        apps.set(value.metadata.name, { ...value.spec, instances: 1, dependencies: [] });
      }
    }
    return apps;
  }

  const logs = async (task: string) => (await capstan(['logs', '-n', 'demo', task], { etcd: cluster.etcd.url })).stdout;

  it.each(['web', 'echo'])('%s logs each request it serves', async (name) => {
    await cluster.createApp(name, demoApps().get(name)!);
    const [task] = await cluster.untilRunning(name, 1, { timeoutMs: 60_000 });
    const port = task!.spec.hostPorts![0]!;
    const url = `http://127.0.0.1:${port}/from-the-test`;
    await until(async () => (await fetch(url).catch(() => undefined))?.status === 404, { timeoutMs: 15_000, what: `${name} to answer` });
    const logged = await until(async () => {
      const text = await logs(task!.metadata.name);
      return text.includes('url:/from-the-test') && text;
    }, { timeoutMs: 15_000, what: `the request in the logs of ${name}` });
    expect(logged).toMatch(/response:404/);
  }, 90_000);

  it('ticker logs the time', async () => {
    await cluster.createApp('ticker', demoApps().get('ticker')!);
    const [task] = await cluster.untilRunning('ticker', 1, { timeoutMs: 30_000 });
    await until(async () => /\d\d:\d\d:\d\d/.test(await logs(task!.metadata.name)), { timeoutMs: 15_000, what: 'the time in the logs of ticker' });
  }, 60_000);
});
