// The `capstan` command against a real etcd: apply (create, unchanged, configured, dry run, prune,
// every class of bad input), diff, get, describe, delete and a user-defined kind. Most cases run the
// command in-process (runCli, the same code bin/capstan.js runs); a few run the real child process.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { AnyObject } from '../api/object.ts';
import { createEventRecorder } from '../api/events.ts';
import { pino } from 'pino';
import { capstan, spawnCapstan, startCapstan } from './helpers/cli.ts';
import { until } from './helpers/poll.ts';
import { useStore } from './helpers/etcd.ts';

function app(name: string, options: { instances?: number; servicePort?: number; namespace?: string; labels?: string } = {}): string {
  return [
    'apiVersion: capstan/v1',
    'kind: App',
    'metadata:',
    `  name: ${name}`,
    ...(options.namespace ? [`  namespace: ${options.namespace}`] : []),
    ...(options.labels ? [`  labels: ${options.labels}`] : []),
    'spec:',
    `  instances: ${options.instances ?? 1}`,
    '  containers:',
    '    - image: local/busybox:1',
    '      cmd: "httpd -f -p $PORT0"',
    ...(options.servicePort ? ['  ports:', `    - {name: http, servicePort: ${options.servicePort}}`] : []),
    '',
  ].join('\n');
}

describe('capstan command on a real etcd', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let dir: string;
  const run = (...args: string[]) => capstan(args, { etcd: db.etcd.url, cwd: dir });
  const runWithStdin = (stdin: string, ...args: string[]) => capstan(args, { etcd: db.etcd.url, cwd: dir, stdin });
  const write = (file: string, text: string) => {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), text);
    return file;
  };
  const getApp = (name: string, namespace = 'default') => db.store.get('App', { namespace, name });
  const keyCount = async () => (await db.client.getAll().prefix('/capstan/').keys()).length;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'capstan-cli-'));
    return () => rmSync(dir, { recursive: true, force: true });
  });

  describe('apply', () => {
    it('creates, then reports unchanged without moving resourceVersion or generation', async () => {
      write('apps/web.yaml', app('web', { servicePort: 10004 }));
      write('apps/db.yaml', app('db'));
      const first = await run('apply', '-f', 'apps');
      expect(first).toMatchObject({ code: 0, stderr: '' });
      expect(first.stdout).toBe('app/db created\napp/web created\n');
      const created = await getApp('web');
      expect(created?.metadata.labels).toEqual({ 'capstan.io/inventory': 'apps' });

      const second = await run('apply', '-f', 'apps');
      expect(second.stdout).toBe('app/db unchanged\napp/web unchanged\n');
      const after = await getApp('web');
      expect(after?.metadata.resourceVersion).toBe(created?.metadata.resourceVersion);
      expect(after?.metadata.generation).toBe(1);
    });

    it('configures a changed field and moves generation by one', async () => {
      write('web.yaml', app('web', { instances: 1 }));
      await run('apply', '-f', 'web.yaml');
      write('web.yaml', app('web', { instances: 3 }));
      const result = await run('apply', '-f', 'web.yaml');
      expect(result).toMatchObject({ code: 0, stdout: 'app/web configured\n' });
      const stored = await getApp('web');
      expect(stored?.metadata.generation).toBe(2);
      expect((stored?.spec as { instances: number }).instances).toBe(3);
    });

    it('keeps the status, finalizers and ownerReferences a controller wrote', async () => {
      write('web.yaml', app('web', { instances: 1 }));
      await run('apply', '-f', 'web.yaml');
      const created = (await getApp('web'))!;
      const owned = await db.store.update({
        ...created,
        metadata: { ...created.metadata, finalizers: ['capstan.io/tasks'], ownerReferences: [{ apiVersion: 'capstan/v1', kind: 'App', name: 'parent', uid: 'u1' }] },
      });
      await db.store.updateStatus({ ...owned, status: { running: 1, conditions: [] } });

      expect((await run('apply', '-f', 'web.yaml')).stdout).toBe('app/web unchanged\n');
      write('web.yaml', app('web', { instances: 2 }));
      expect((await run('apply', '-f', 'web.yaml')).stdout).toBe('app/web configured\n');
      const stored = (await getApp('web'))!;
      expect(stored.metadata.finalizers).toEqual(['capstan.io/tasks']);
      expect(stored.metadata.ownerReferences?.[0]?.name).toBe('parent');
      expect(stored.status).toEqual({ running: 1, conditions: [] });
      expect((stored.spec as { instances: number }).instances).toBe(2);
    });

    it('--dry-run reports what would happen and writes nothing', async () => {
      write('web.yaml', app('web'));
      const dry = await run('apply', '-f', 'web.yaml', '--dry-run');
      expect(dry).toMatchObject({ code: 0, stdout: 'app/web created (dry run)\n' });
      expect(await keyCount()).toBe(0);

      await run('apply', '-f', 'web.yaml');
      const before = await getApp('web');
      write('web.yaml', app('web', { instances: 4 }));
      expect((await run('apply', '-f', 'web.yaml', '--dry-run')).stdout).toBe('app/web configured (dry run)\n');
      expect(await getApp('web')).toEqual(before);
    });

    it('reads manifests from stdin with -f -', async () => {
      const result = await runWithStdin(`${app('one')}---\n${app('two')}`, 'apply', '-f', '-');
      expect(result.stdout).toBe('app/one created\napp/two created\n');
      expect((await getApp('two'))?.metadata.labels?.['capstan.io/inventory']).toBe('stdin');
    });

    it('places objects without a namespace in -n, and keeps those that name one', async () => {
      write('apps.yaml', `${app('here')}---\n${app('there', { namespace: 'other' })}`);
      expect((await run('apply', '-n', 'shop', '-f', 'apps.yaml')).code).toBe(0);
      expect(await getApp('here', 'shop')).toBeDefined();
      expect(await getApp('there', 'other')).toBeDefined();
    });

    it('--prune deletes exactly what the set applied before and no longer contains', async () => {
      write('set/a.yaml', app('a'));
      write('set/b.yaml', app('b'));
      write('set/c.yaml', app('c'));
      await run('apply', '-f', 'set', '--prune');
      // c is deleted and made again by someone else, outside the set: same name, different object.
      await db.store.delete('App', { namespace: 'default', name: 'c' });
      const outsider = await db.store.create<AnyObject>({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'c', namespace: 'default' }, spec: { containers: [{ image: 'x' }] } });
      // d carries the set's label but was never applied by it: prune never guesses from labels.
      await db.store.create({
        apiVersion: 'capstan/v1',
        kind: 'App',
        metadata: { name: 'd', namespace: 'default', labels: { 'capstan.io/inventory': 'set' } },
        spec: { containers: [{ image: 'x' }] },
      });
      rmSync(join(dir, 'set/b.yaml'));
      rmSync(join(dir, 'set/c.yaml'));

      const dry = await run('apply', '-f', 'set', '--prune', '--dry-run');
      expect(dry.stdout).toContain('app/b pruned (dry run)');
      expect(await getApp('b')).toBeDefined();

      const result = await run('apply', '-f', 'set', '--prune');
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('app/a unchanged\napp/b pruned\n');
      expect(result.stderr).toContain('app/c not pruned');
      expect(await getApp('b')).toBeUndefined();
      expect((await getApp('c'))?.metadata.uid).toBe(outsider.metadata.uid);
      expect(await getApp('d')).toBeDefined();
      expect(await getApp('a')).toBeDefined();
    });

    it('--prune with -l only prunes objects matching the selector', async () => {
      write('set/a.yaml', app('a', { labels: '{tier: front}' }));
      write('set/b.yaml', app('b', { labels: '{tier: back}' }));
      write('set/c.yaml', app('c'));
      await run('apply', '-f', 'set');
      rmSync(join(dir, 'set/a.yaml'));
      rmSync(join(dir, 'set/b.yaml'));
      const result = await run('apply', '-f', 'set', '--prune', '-l', 'tier=back');
      expect(result.stdout).toBe('app/c unchanged\napp/b pruned\n');
      expect(await getApp('a')).toBeDefined();
      // a stays in the inventory: a later prune without the selector removes it.
      expect((await run('apply', '-f', 'set', '--prune')).stdout).toBe('app/c unchanged\napp/a pruned\n');
    });

    const badInputs: { name: string; files: Record<string, string>; expected: RegExp[] }[] = [
      {
        name: 'a YAML syntax error, with its line',
        files: { 'bad.yaml': 'apiVersion: capstan/v1\nkind: App\nmetadata: {name: web\nspec: {}\n' },
        expected: [/^bad\.yaml:\d+:\d+: expected valid YAML, found /m],
      },
      {
        name: 'an unknown kind',
        files: { 'bad.yaml': 'apiVersion: capstan/v1\nkind: Appp\nmetadata: {name: web}\nspec: {}\n' },
        expected: [/^bad\.yaml:2:1: kind: expected a known kind \(App, .*found "Appp" \(did you mean "App"\?\)$/m],
      },
      {
        name: 'a name that is not a DNS label',
        files: { 'bad.yaml': app('Web_1') },
        expected: [/^bad\.yaml:4:3: metadata\.name: expected a DNS label.*found "Web_1"$/m],
      },
      {
        name: 'schema errors, each with line:col and path',
        files: { 'bad.yaml': app('web').replace('instances: 1', 'instances: many').replace('cmd:', 'cmdd:') },
        expected: [/^bad\.yaml:6:3: spec\.instances: expected a number, found "many"$/m, /^bad\.yaml:9:7: spec\.containers\[0\]\.cmdd: expected a known field/m],
      },
      {
        name: 'errors in several files, all listed',
        files: { 'a.yaml': app('A'), 'b.yaml': app('ok'), 'c.yaml': app('c').replace('instances: 1', 'instances: -2') },
        expected: [/^a\.yaml:4:3: metadata\.name/m, /^c\.yaml:6:3: spec\.instances: expected a number of at least 0, found -2$/m, /2 problems in 2 files: nothing was applied/],
      },
      {
        name: 'a service port an existing App already uses',
        files: { 'bad.yaml': app('second', { servicePort: 10004 }) },
        expected: [/^bad\.yaml:11:\d+: spec\.ports\[0\]\.servicePort: expected a servicePort no other App uses, found 10004, used by App default\/first$/m],
      },
    ];

    it.each(badInputs)('rejects $name: exit 1, every problem with its line, nothing written', async ({ files, expected }) => {
      await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'first', namespace: 'default' }, spec: { containers: [{ image: 'x' }], ports: [{ servicePort: 10004 }] } });
      const revision = (await db.store.list('App')).revision;
      for (const [file, text] of Object.entries(files)) write(`in/${file}`, text);
      const result = await run('apply', '-f', 'in');
      expect(result.code).toBe(1);
      const stderr = result.stderr.replaceAll('in/', '');
      for (const pattern of expected) expect(stderr).toMatch(pattern);
      expect(stderr).toMatch(/\d+ problems? in \d+ files?: nothing was applied\n$/);
      expect(result.stdout).toBe('');
      expect((await db.store.list('App')).revision).toBe(revision);
    });

    it('lists every problem of test/fixtures/invalid', async () => {
      const result = await capstan(['apply', '-f', 'test/fixtures/invalid'], { etcd: db.etcd.url });
      expect(result.code).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(5);
      for (const line of lines.slice(0, -1)) expect(line).toMatch(/^test\/fixtures\/invalid\/apps\.yaml:\d+:\d+: .*expected .*, found /);
      expect(await keyCount()).toBe(0);
    });

    it('colours and aligns on a terminal (FORCE_COLOR), plain otherwise and with NO_COLOR', async () => {
      write('apps.yaml', `${app('a')}---\n${app('longer-name')}`);
      const coloured = await capstan(['apply', '-f', 'apps.yaml'], { etcd: db.etcd.url, cwd: dir, env: { NO_COLOR: undefined, FORCE_COLOR: '1' } });
      expect(coloured.stdout).toBe('app/a           \u001b[32mcreated\u001b[39m\napp/longer-name \u001b[32mcreated\u001b[39m\n');
      const plain = await capstan(['apply', '-f', 'apps.yaml'], { etcd: db.etcd.url, cwd: dir, env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
      expect(plain.stdout).toBe('app/a unchanged\napp/longer-name unchanged\n');
    });

    it('refuses a bad --inventory name and a missing -f as usage errors (exit 2)', async () => {
      write('web.yaml', app('web'));
      expect((await run('apply', '-f', 'web.yaml', '--inventory', 'Not OK')).code).toBe(2);
      expect((await run('apply')).code).toBe(2);
      expect((await run('apply', '-f', 'missing.yaml')).code).toBe(1);
    });
  });

  describe('diff', () => {
    it('exits 0 without differences, 1 with, 2 on error', async () => {
      write('web.yaml', app('web'));
      const absent = await run('diff', '-f', 'web.yaml');
      expect(absent.code).toBe(1);
      expect(absent.stdout).toContain('+++ app/web (applied)');
      expect(absent.stdout).toContain('+  instances: 1');

      await run('apply', '-f', 'web.yaml');
      expect(await run('diff', '-f', 'web.yaml')).toMatchObject({ code: 0, stdout: '' });

      write('web.yaml', app('web', { instances: 5 }));
      const changed = await run('diff', '-f', 'web.yaml');
      expect(changed.code).toBe(1);
      expect(changed.stdout).toMatch(/^-  instances: 1\n\+  instances: 5$/m);

      write('bad.yaml', 'kind: [');
      expect((await run('diff', '-f', 'bad.yaml')).code).toBe(2);
      expect((await capstan(['diff', '-f', 'web.yaml'], { etcd: '127.0.0.1:1', cwd: dir })).code).toBe(2);
    });
  });

  describe('get', () => {
    beforeEach(async () => {
      write('apps.yaml', [app('web', { labels: '{tier: front}', servicePort: 10004 }), app('db', { labels: '{tier: back}' }), app('cart', { namespace: 'shop' })].join('---\n'));
      await run('apply', '-f', 'apps.yaml');
    });

    it('prints a table of the namespace, with NAMESPACE across all namespaces and wide columns with -o wide', async () => {
      const table = await run('get', 'apps');
      expect(table.code).toBe(0);
      const lines = table.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^NAME\s+STATUS\s+RUNNING\s+HEALTHY\s+REVISION\s+AVAILABLE\s+AGE$/);
      expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['db', 'web']);
      expect(lines[1]).toMatch(/^db\s+Unknown\s+- of 1\s+- of 1\s+-\s+Unknown\s+\d+s$/);

      const all = await run('get', 'app', '-A');
      expect(all.stdout.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s/);
      expect(all.stdout).toMatch(/^shop\s+cart\s/m);

      const wide = await run('get', 'apps', '-o', 'wide');
      expect(wide.stdout.split('\n')[0]).toMatch(/DRIVER\s+IMAGE\s+CMD\s+PORTS\s+AGE$/);
      expect(wide.stdout).toContain('http:10004/tcp');
    });

    it('filters by label selector and prints yaml and json', async () => {
      const front = await run('get', 'apps', '-l', 'tier=front');
      expect(front.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['web']);

      const one = JSON.parse((await run('get', 'app', 'web', '-o', 'json')).stdout) as AnyObject;
      expect(one).toMatchObject({ kind: 'App', metadata: { name: 'web', generation: 1 }, spec: { instances: 1 } });
      const list = JSON.parse((await run('get', 'apps', '-o', 'json')).stdout) as { kind: string; items: AnyObject[] };
      expect(list.kind).toBe('List');
      expect(list.items.map((o) => o.metadata.name)).toEqual(['db', 'web']);
      const yaml = (await run('get', 'app/web', '-o', 'yaml')).stdout;
      expect(yaml).toMatch(/^kind: App$/m);
      expect(yaml).toMatch(/^ {2}name: web$/m);
    });

    it('-w prints the table, then a row per change until interrupted', async () => {
      const watching = startCapstan(['get', 'apps', '-w'], { etcd: db.etcd.url, cwd: dir });
      await until(() => watching.stdout().includes('web'), { what: 'the first table' });
      expect(watching.stdout().trim().split('\n')).toHaveLength(3);
      write('apps.yaml', app('web', { labels: '{tier: front}', servicePort: 10004, instances: 7 }));
      await run('apply', '-f', 'apps.yaml');
      await until(() => /^web\s+\S+\s+- of 7\s/m.test(watching.stdout()), { what: 'the changed row' });
      await db.store.delete('App', { namespace: 'default', name: 'db' });
      await until(() => /^db\s.*\(deleted\)$/m.test(watching.stdout()), { what: 'the deleted row' });
      // Another namespace is not this watch's business.
      await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'elsewhere', namespace: 'shop' }, spec: { containers: [{ image: 'x' }] } });
      watching.interrupt();
      const result = await watching.done;
      expect(result.code).toBe(0);
      expect(result.stdout).not.toContain('elsewhere');
    });

    it('says what it knows when the kind is unknown, and when nothing is found', async () => {
      const unknown = await run('get', 'widgets');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toBe(
        `unknown kind "widgets": known kinds are ${builtinRegistry().kinds().map((k) => k.kind).join(', ')}. ` +
          'A kind a controller defines (defineKind) is known once that controller has started, which installs its CustomKind; a kind with no code is registered by `capstan apply -f` of a CustomKind\n',
      );
      expect(await run('get', 'apps', '-n', 'empty')).toMatchObject({ code: 0, stdout: '', stderr: 'No resources found in empty namespace.\n' });
      expect(await run('get', 'app', 'nope')).toMatchObject({ code: 1, stderr: 'app "nope" not found in namespace "default"\n' });
    });
  });

  it('describe shows metadata, spec, conditions and the events about the object', async () => {
    write('web.yaml', app('web', { labels: '{tier: front}' }));
    await run('apply', '-f', 'web.yaml');
    const stored = (await getApp('web'))!;
    const now = new Date().toISOString();
    await db.store.updateStatus({
      ...stored,
      status: {
        running: 2,
        conditions: [{ type: 'Available', status: 'False', reason: 'MinimumHealthy', message: '1 of 2 healthy', lastTransitionTime: now }],
      },
    });
    const event = (name: string, reason: string, at: string) => ({
      apiVersion: 'capstan/v1',
      kind: 'Event',
      metadata: { name, namespace: 'default' },
      spec: { involvedObject: { kind: 'App', namespace: 'default', name: 'web' }, reason, message: `${reason} happened`, firstTimestamp: at, lastTimestamp: at, source: { component: 'rollout' } },
    });
    await db.store.create(event('e2', 'ScaledUp', new Date(Date.now() - 1000).toISOString()));
    // The way controllers record events: leased, under /capstan/events/<namespace>/<id>.
    const recorder = createEventRecorder({
      client: db.client,
      registry: builtinRegistry(),
      component: 'rollout',
      log: pino({ level: 'silent' }),
      now: () => new Date(Date.now() - 5000),
    });
    await recorder.record(stored, { reason: 'RevisionCreated', message: 'revision 1' });

    const result = await run('describe', 'app', 'web');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Name:\s+web$/m);
    expect(result.stdout).toMatch(/^Labels:\s+tier=front$/m);
    expect(result.stdout).toMatch(/^Generation:\s+1$/m);
    expect(result.stdout).toMatch(/^ {2}instances: 1$/m);
    expect(result.stdout).toMatch(/^ {2}TYPE\s+STATUS\s+REASON\s+MESSAGE\s+AGE$/m);
    expect(result.stdout).toMatch(/^ {2}Available\s+False\s+MinimumHealthy\s+1 of 2 healthy\s+\d+s$/m);
    const events = result.stdout.slice(result.stdout.indexOf('Events:'));
    expect(events.indexOf('RevisionCreated')).toBeGreaterThan(0);
    expect(events.indexOf('ScaledUp')).toBeGreaterThan(events.indexOf('RevisionCreated'));

    const listed = await run('get', 'events');
    expect(listed.stdout).toMatch(/RevisionCreated\s+app\/web\s+revision 1/);
    expect(listed.stdout).toMatch(/ScaledUp\s+app\/web\s+ScaledUp happened/);
  });

  it('get events -w prints the events recorded after it started, where controllers record them', async () => {
    write('web.yaml', app('web'));
    await run('apply', '-f', 'web.yaml');
    const stored = (await getApp('web'))!;
    const recorder = createEventRecorder({ client: db.client, registry: builtinRegistry(), component: 'rollout', log: pino({ level: 'silent' }), now: () => new Date() });
    await recorder.record(stored, { reason: 'BeforeTheWatch', message: 'listed first' });
    const watching = startCapstan(['get', 'events', '-w'], { etcd: db.etcd.url, cwd: dir });
    await until(() => watching.stdout().includes('BeforeTheWatch'), { what: 'the first table' });
    await recorder.record(stored, { reason: 'ScaledUp', message: 'scaled up to 3' });
    await until(() => /ScaledUp\s+app\/web\s+scaled up to 3/.test(watching.stdout()), { what: 'the new event as a row' });
    await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'Event',
      metadata: { name: 'stored-1', namespace: 'default' },
      spec: { involvedObject: { kind: 'App', namespace: 'default', name: 'web' }, reason: 'StoredToo', message: 'the ordinary way', firstTimestamp: new Date().toISOString(), lastTimestamp: new Date().toISOString(), source: { component: 'test' } },
    });
    await until(() => watching.stdout().includes('StoredToo'), { what: 'an event stored the ordinary way' });
    watching.interrupt();
    const result = await watching.done;
    expect(result.code).toBe(0);
    expect(result.stdout.match(/BeforeTheWatch/g)).toHaveLength(1);
  });

  it('delete removes named objects (exit 1 for a missing one) and -f reports missing ones without failing', async () => {
    write('apps.yaml', `${app('a')}---\n${app('b')}`);
    await run('apply', '-f', 'apps.yaml');
    const named = await run('delete', 'app', 'a', 'ghost');
    expect(named.code).toBe(1);
    expect(named.stdout).toBe('app/a deleted\n');
    expect(named.stderr).toBe('app/ghost not found\n');
    expect(await getApp('a')).toBeUndefined();

    const fromFile = await run('delete', '-f', 'apps.yaml');
    expect(fromFile).toMatchObject({ code: 0, stdout: 'app/b deleted\n', stderr: 'app/a not found\n' });
    expect(await getApp('b')).toBeUndefined();
  });

  it('delete --wait waits for finalizers to be released', async () => {
    write('a.yaml', app('a'));
    await run('apply', '-f', 'a.yaml');
    const stored = (await getApp('a'))!;
    await db.store.update({ ...stored, metadata: { ...stored.metadata, finalizers: ['test/hold'] } });
    const deleting = run('delete', 'app', 'a', '--wait', '--timeout', '10');
    // Release the finalizer once the deletion is marked, as a controller would.
    const marked = await until(
      async () => {
        const current = await getApp('a');
        return current?.metadata.deletionTimestamp ? current : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'app/a marked for deletion (deletionTimestamp set)' },
    );
    await db.store.update({ ...marked, metadata: { ...marked.metadata, finalizers: [] } });
    const result = await deleting;
    expect(result).toMatchObject({ code: 0, stdout: 'app/a marked for deletion (waiting for finalizers)\napp/a deleted\n' });
  });

  it('a CustomKind and its objects in one file work with apply, get, describe and delete', async () => {
    write(
      'db.yaml',
      [
        'apiVersion: capstan/v1',
        'kind: CustomKind',
        'metadata: {name: databases}',
        'spec:',
        '  names: {kind: Database, plural: databases, shortNames: [db]}',
        '  schema:',
        '    type: object',
        '    properties:',
        '      engine: {type: string, enum: [postgres, mysql]}',
        '      sizeGb: {type: integer, minimum: 1}',
        '    required: [engine]',
        '  columns:',
        '    - {header: Engine, jsonPath: .spec.engine}',
        '---',
        'apiVersion: capstan/v1',
        'kind: Database',
        'metadata: {name: orders}',
        'spec: {engine: postgres, sizeGb: 5}',
        '',
      ].join('\n'),
    );
    const applied = await run('apply', '-f', 'db.yaml');
    expect(applied).toMatchObject({ code: 0, stdout: 'customkind/databases created\ndatabase/orders created\n' });
    expect((await run('apply', '-f', 'db.yaml')).stdout).toBe('customkind/databases unchanged\ndatabase/orders unchanged\n');

    const table = await run('get', 'db');
    expect(table.stdout).toMatch(/^NAME\s+ENGINE\s+AGE\n/);
    expect(table.stdout).toMatch(/^orders\s+postgres\s+\d+s$/m);
    expect((await run('describe', 'database', 'orders')).stdout).toMatch(/^ {2}engine: postgres$/m);

    write('bad-db.yaml', 'apiVersion: capstan/v1\nkind: Database\nmetadata: {name: bad}\nspec: {engine: oracle}\n');
    const bad = await run('apply', '-f', 'bad-db.yaml');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^bad-db\.yaml:4:\d+: spec\.engine: expected /m);

    expect((await run('delete', 'databases', 'orders')).stdout).toBe('database/orders deleted\n');
    expect((await run('get', 'db')).stderr).toBe('No resources found in default namespace.\n');
  });

  it('controllers runs the built-in controllers until interrupted; an unknown --only is a usage error', async () => {
    const running = startCapstan(['controllers', '--only', 'gc', '--lease-ttl', '2'], { etcd: db.etcd.url, cwd: dir });
    await until(() => /running gc against/.test(running.stderr()), { what: `controllers to start: ${running.stderr()}` });
    await until(async () => (await db.client.get('/capstan/leaders/gc').string()) !== null, { what: 'the gc leader key' });
    running.interrupt();
    expect((await running.done).code).toBe(0);
    await until(async () => (await db.client.get('/capstan/leaders/gc').string()) === null, { what: 'leadership released' });

    const unknown = await run('controllers', '--only', 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^unknown controller "nope" in --only: known controllers are /);
  });

  describe('as a child process', () => {
    it('applies the demo manifests (npx capstan apply -f manifests/demo), then finds them unchanged', async () => {
      const env = { CAPSTAN_ETCD: db.etcd.url };
      const first = await spawnCapstan(['apply', '-f', 'manifests/demo'], { env });
      expect(first).toMatchObject({ code: 0, stderr: '' });
      expect(first.stdout).toBe('app/web created\napp/ticker created\napp/echo created\n');
      const second = await spawnCapstan(['apply', '-f', 'manifests/demo/'], { env });
      expect(second.stdout).toBe('app/web unchanged\napp/ticker unchanged\napp/echo unchanged\n');
      const table = await spawnCapstan(['get', 'apps', '-A'], { env });
      // STATUS, then RUNNING as "N of 2": the 2 instances the demo asks for.
      expect(table.stdout).toMatch(/^demo\s+web\s+\S+\s+\S+ of 2\s/m);
    });

    it('reports an unreachable etcd in one sentence, exit 1, quickly, without a stack trace', async () => {
      const result = await spawnCapstan(['get', 'apps'], { env: { CAPSTAN_ETCD: 'http://127.0.0.1:1' } });
      expect(result.code).toBe(1);
      expect(result.ms).toBeLessThan(5_000);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^cannot reach etcd at http:\/\/127\.0\.0\.1:1 \(connection refused\)/);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    });

    it('prints help with exit 0, documenting the default inventory name', async () => {
      const help = await spawnCapstan(['apply', '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout.replace(/\s+/g, ' ')).toContain('-f manifests/demo → manifests-demo');
    });

    it('exits 2 on a usage error', async () => {
      const result = await spawnCapstan(['get'], { env: { CAPSTAN_ETCD: db.etcd.url } });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("missing required argument 'kind'");
    });
  });
});
