// `capstan apply -f` with Marathon JSON, as a Marathon user pastes it, on a real etcd: an app, a group
// whose apps depend on each other and on a group, a pod, from a file, a directory and stdin; a JSON
// with mistakes is refused whole with each problem at its JSON line:col and Marathon field; and what
// `capstan get apps -o marathon` prints applies again unchanged.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { templateOf, type AppSpec } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { MARATHON_ID_ANNOTATION } from '../api/marathon/ids.ts';
import type { CapstanObject } from '../api/object.ts';
import { capstan, spawnCapstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';

type App = CapstanObject<AppSpec>;

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

const webApp = {
  id: '/shop/web',
  cmd: 'httpd -f -p $PORT0',
  cpus: 0.1,
  mem: 32,
  instances: 2,
  container: { type: 'DOCKER', docker: { image: 'local/busybox:1' } },
  portDefinitions: [{ port: 0, name: 'http' }],
  healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0 }],
  labels: { tier: 'front' },
};

/** /shop: front depends on the group data (db and cache); tools/backup inherits its group's dependency on db. */
const shopGroup = {
  id: '/shop',
  apps: [{ id: 'front', cmd: 'sleep 1000', cpus: 0.1, mem: 16, dependencies: ['data'] }],
  groups: [
    {
      id: 'data',
      apps: [
        { id: 'db', cmd: 'sleep 1000', cpus: 0.1, mem: 16 },
        { id: '/shop/data/cache', cmd: 'sleep 1000', cpus: 0.1, mem: 16 },
      ],
    },
    { id: '/shop/tools', dependencies: ['../data/db'], apps: [{ id: 'backup', cmd: 'sleep 1000', cpus: 0.1, mem: 16 }] },
  ],
};

const pairPod = {
  id: '/shop/pair',
  scaling: { kind: 'fixed', instances: 1 },
  containers: [
    { name: 'web', resources: { cpus: 0.1, mem: 32 }, image: { kind: 'DOCKER', id: 'local/busybox:1' }, exec: { command: { shell: 'httpd -f -p 8080' } } },
    { name: 'probe', resources: { cpus: 0.1, mem: 16 }, exec: { command: { shell: 'sleep 1000' } } },
  ],
};

// Line numbers matter: the problems below name them.
const broken = `{
  "id": "/shop/broken",
  "cmd": "sleep 1000",
  "mem": 16,
  "healthChecks": [
    {
      "protocol": "HTTPX",
      "path": "/"
    }
  ],
  "comand": "typo"
}
`;
const negative = `{
  "id": "/shop/negative",
  "cmd": "sleep 1000",
  "mem": -5
}
`;
/** Two apps asking for the same service port: a rule across Apps, found when the set is validated. */
const clash = `[
  { "id": "/shop/a", "cmd": "sleep 1000", "portDefinitions": [{ "port": 10100 }] },
  { "id": "/shop/b", "cmd": "sleep 1000", "portDefinitions": [{ "port": 10100 }] }
]
`;

describe('capstan apply with Marathon JSON on a real etcd', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let dir: string;
  const run = (args: string[], stdin?: string) => capstan(args, { etcd: db.etcd.url, cwd: dir, ...(stdin !== undefined ? { stdin } : {}) });
  const write = (file: string, text: string) => {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), text);
    return file;
  };
  const getApp = (namespace: string, name: string) => db.store.get<App>('App', { namespace, name });
  const appNames = async () => (await db.store.list<App>('App')).items.map((app) => `${app.metadata.namespace}/${app.metadata.name}`).sort();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'capstan-marathon-apply-'));
    return () => rmSync(dir, { recursive: true, force: true });
  });

  it('applies a Marathon app as an App in the namespace its id names, keeping the id; again it is unchanged', async () => {
    write('web.json', json(webApp));
    expect(await run(['apply', '-f', 'web.json'])).toMatchObject({ code: 0, stdout: 'app/web created\n', stderr: '' });

    const app = await getApp('shop', 'web');
    expect(app?.metadata.annotations?.[MARATHON_ID_ANNOTATION]).toBe('/shop/web');
    expect(app?.metadata.labels).toMatchObject({ tier: 'front' });
    expect(app?.spec).toMatchObject({
      instances: 2,
      containers: [{ image: 'local/busybox:1', cmd: 'httpd -f -p $PORT0', resources: { cpus: 0.1, mem: 32 } }],
      ports: [{ name: 'http', hostPort: 0 }],
      healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0 }],
    });

    expect(await run(['apply', '-f', 'web.json'])).toMatchObject({ code: 0, stdout: 'app/web unchanged\n' });
    expect(await run(['diff', '-f', 'web.json'])).toMatchObject({ code: 0 });
    expect((await getApp('shop', 'web'))?.metadata.resourceVersion).toBe(app?.metadata.resourceVersion);
  });

  it('keeps the instances a scale set when the JSON has none, as Marathon keeps them on an app update', async () => {
    const { instances: _instances, ...unscaled } = webApp;
    write('web.json', json(unscaled));
    expect((await run(['apply', '-f', 'web.json'])).code).toBe(0);
    expect((await getApp('shop', 'web'))?.spec.instances).toBe(1);
    expect((await run(['scale', 'web', '3', '-n', 'shop'])).code).toBe(0);

    write('web.json', json({ ...unscaled, mem: 48 }));
    expect(await run(['apply', '-f', 'web.json'])).toMatchObject({ code: 0, stdout: 'app/web configured\n' });
    expect((await getApp('shop', 'web'))?.spec).toMatchObject({ instances: 3, containers: [{ resources: { mem: 48 } }] });
  });

  it('applies a group: ids resolved against their groups, a dependency on a group means each of its apps, group dependencies reach every app inside', async () => {
    write('shop/group.json', json(shopGroup));
    const applied = await run(['apply', '-f', 'shop']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout.split('\n').filter(Boolean).sort()).toEqual(['app/data-cache created', 'app/data-db created', 'app/front created', 'app/tools-backup created']);

    expect((await getApp('shop', 'front'))?.spec.dependencies).toEqual(['shop/data-db', 'shop/data-cache']);
    expect((await getApp('shop', 'tools-backup'))?.spec.dependencies).toEqual(['shop/data-db']);
    expect((await getApp('shop', 'data-db'))?.spec.dependencies).toEqual([]);
    expect((await getApp('shop', 'data-cache'))?.metadata.annotations?.[MARATHON_ID_ANNOTATION]).toBe('/shop/data/cache');

    // delete -f reads the same translation: every App of the group goes.
    expect(await run(['delete', '-f', 'shop/group.json'])).toMatchObject({ code: 0 });
    expect(await appNames()).toEqual([]);
  });

  it('applies a pod from stdin as one App with its containers', async () => {
    const applied = await run(['apply', '-f', '-'], json(pairPod));
    expect(applied).toMatchObject({ code: 0, stdout: 'app/pair created\n' });
    const pair = await getApp('shop', 'pair');
    expect(pair?.metadata.annotations?.[MARATHON_ID_ANNOTATION]).toBe('/shop/pair');
    expect(pair?.spec.instances).toBe(1);
    expect(pair?.spec.containers.map((c) => ({ name: c.name, image: c.image, cmd: c.cmd }))).toEqual([
      { name: 'web', image: 'local/busybox:1', cmd: 'httpd -f -p 8080' },
      { name: 'probe', image: undefined, cmd: 'sleep 1000' },
    ]);
  });

  it('refuses JSON with mistakes whole: every problem at its JSON line:col and Marathon field, nothing written, exit 1', async () => {
    write('web.json', json(webApp));
    write('broken.json', broken);
    write('negative.json', negative);
    write('clash.json', clash);
    const result = await run(['apply', '-f', 'web.json', '-f', 'broken.json', '-f', 'negative.json', '-f', 'clash.json']);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      // What the translation cannot read, and what the App's own schema says, each where the JSON writes it...
      expect.stringMatching(/^broken\.json:7:7: healthChecks\[0\]\.protocol: expected one of HTTP, .*, found "HTTPX"$/),
      expect.stringMatching(/^broken\.json:11:3: comand: expected a field of a Marathon app \(.*\), found "comand" \(did you mean "cmd"\?\)$/),
      expect.stringMatching(/^negative\.json:4:3: mem: expected .*, found -5$/),
      // ...and a rule across Apps, checked on the translated set, at the Marathon field too.
      'clash.json:2:65: [0].portDefinitions[0].port: expected a servicePort no other App uses, found 10100, used by App shop/b',
      'clash.json:3:65: [1].portDefinitions[0].port: expected a servicePort no other App uses, found 10100, used by App shop/a',
      '5 problems in 3 files: nothing was applied',
    ]);
    expect(await appNames()).toEqual([]);
  });

  it('prints Apps as Marathon JSON with -o marathon, which applies again unchanged', async () => {
    write('web.json', json(webApp));
    write('group.json', json(shopGroup));
    write('pair.json', json(pairPod));
    expect((await run(['apply', '-f', '.'])).code).toBe(0);
    // A task of web, as the replicas controller would make it: -o marathon embeds it in its app.
    const web = (await getApp('shop', 'web'))!;
    const task = { apiVersion: 'capstan/v1', kind: 'Task', metadata: { name: 'web-1-abcde', namespace: 'shop' }, spec: { app: 'web', revision: 1, template: templateOf(web.spec) } };
    await db.store.create(task);

    const listed = await run(['get', 'apps', '-n', 'shop', '-o', 'marathon']);
    expect(listed.code, listed.stderr).toBe(0);
    const list = JSON.parse(listed.stdout) as { apps: { id: string; tasks: { appId: string }[]; instances: number; dependencies: string[] }[]; pods: { id: string }[] };
    expect(list.apps.map((app) => app.id)).toEqual(['/shop/data/cache', '/shop/data/db', '/shop/front', '/shop/tools/backup', '/shop/web']);
    expect(list.apps.find((app) => app.id === '/shop/front')).toMatchObject({ instances: 1, tasks: [], dependencies: ['/shop/data/db', '/shop/data/cache'] });
    expect(list.apps.find((app) => app.id === '/shop/web')).toMatchObject({ instances: 2, tasks: [{ appId: '/shop/web' }] });
    expect(list.pods.map((pod) => pod.id)).toEqual(['/shop/pair']);

    write('listed.json', listed.stdout);
    const again = await run(['apply', '-f', 'listed.json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'app/data-cache unchanged',
      'app/data-db unchanged',
      'app/front unchanged',
      'app/pair unchanged',
      'app/tools-backup unchanged',
      'app/web unchanged',
    ]);

    const one = await run(['get', 'app', 'web', '-n', 'shop', '-o', 'marathon']);
    expect(JSON.parse(one.stdout)).toMatchObject({ id: '/shop/web', instances: 2 });
    expect(await run(['apply', '-f', '-'], one.stdout)).toMatchObject({ code: 0, stdout: 'app/web unchanged\n' });

    expect(await run(['get', 'tasks', '-o', 'marathon'])).toMatchObject({ code: 2, stderr: expect.stringContaining('-o marathon prints Apps') });
    expect(await run(['get', 'all', '-o', 'marathon'])).toMatchObject({ code: 2, stderr: expect.stringContaining('-o marathon prints Apps') });
  });

  it('says in apply --help that it takes Marathon JSON', async () => {
    const help = (await spawnCapstan(['apply', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(help).toContain('Marathon JSON: an app, an array of apps, a group, a pod');
  });
});
