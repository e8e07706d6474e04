// POST /v2/apps written in groups (api/http/create-together.ts) against a real etcd: a burst of
// concurrent POSTs, among them a duplicate, an app that already exists and invalid ones, each gets
// Marathon's own answer, and the valid ones are written together (fewer transactions than apps,
// seen in their creation revisions). Then the fallback: a store that believes no group fits one
// transaction creates each app on its own, with the same answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type RunningApiServer } from '../api/http/server.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { Store } from '../api/store.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

const db = useStore(builtinRegistry());

interface Answer {
  id: string;
  status: number;
  body: { message?: string; details?: { path: string; errors: string[] }[]; id?: string };
}

async function post(url: string, definition: Record<string, unknown>): Promise<Answer> {
  const response = await fetch(`${url}/v2/apps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(definition) });
  return { id: String(definition['id']), status: response.status, body: (await response.json()) as Answer['body'] };
}

const app = (id: string, extra: Record<string, unknown> = {}) => ({ id, cmd: 'sleep 1000', cpus: 0.01, mem: 8, instances: 1, ...extra });

/** Posts a burst of definitions at once; the answers in the same order. */
const burst = (url: string, definitions: Record<string, unknown>[]) => Promise.all(definitions.map((definition) => post(url, definition)));

/** The burst of every scenario: twelve new apps, one posted twice, one that exists, two invalid ones. */
function scenario(namespace: string, port: number): { definitions: Record<string, unknown>[]; fresh: string[] } {
  const fresh = Array.from({ length: 12 }, (_, i) => `/${namespace}/app-${i}`);
  const definitions = [
    ...fresh.map((id) => app(id)),
    app(fresh[3]!, { instances: 2 }),
    app(`/${namespace}/existing`),
    app(`/${namespace}/negative`, { instances: -1 }),
    app(`/${namespace}/port-taken`, { portDefinitions: [{ port, name: 'http' }] }),
  ];
  return { definitions, fresh };
}

/** The app holding service port `port` and the one that exists, posted first and seen by the server's informers. */
async function prepare(url: string, namespace: string, port: number): Promise<void> {
  expect((await post(url, app(`/${namespace}/holder`, { portDefinitions: [{ port, name: 'http' }] }))).status).toBe(201);
  expect((await post(url, app(`/${namespace}/existing`))).status).toBe(201);
  // The store-wide checks read the informers' caches: the holder must be in them. A probe the
  // server let through (its cache a moment behind) is deleted again.
  let probes = 0;
  await until(async () => {
    const probe = await post(url, app(`/${namespace}/probe-${(probes += 1)}`, { portDefinitions: [{ port }] }));
    if (probe.status === 201) await db.store.delete('App', { namespace, name: `probe-${probes}` });
    return probe.status === 422;
  }, {
    timeoutMs: 10_000,
    what: 'the API server seeing the port holder',
  });
}

function expectAnswers(answers: Answer[], namespace: string, fresh: string[]): void {
  const of = (id: string) => answers.filter((a) => a.id === id);
  for (const id of fresh.filter((_, i) => i !== 3)) expect(of(id).map((a) => a.status), id).toEqual([201]);
  // The same id twice in one burst: one created, the other told it exists, whichever came first.
  const twice = of(fresh[3]!);
  expect(twice.map((a) => a.status).sort()).toEqual([201, 409]);
  expect(twice.find((a) => a.status === 409)!.body.message).toBe(`An app with id [${fresh[3]}] already exists.`);
  expect(of(`/${namespace}/existing`)[0]).toMatchObject({ status: 409, body: { message: `An app with id [/${namespace}/existing] already exists.` } });
  expect(of(`/${namespace}/negative`)[0]!.status).toBe(422);
  expect(of(`/${namespace}/negative`)[0]!.body.details!.map((d) => d.path)).toEqual(['/instances']);
  const taken = of(`/${namespace}/port-taken`)[0]!;
  expect(taken.status, JSON.stringify(taken.body)).toBe(422);
  expect(JSON.stringify(taken.body.details)).toContain(`${namespace}/holder`);
}

async function storedNames(namespace: string): Promise<string[]> {
  return (await db.store.list('App', { namespace })).items.map((a) => a.metadata.name).sort();
}

describe('POST /v2/apps in groups', () => {
  let api: RunningApiServer;
  beforeAll(async () => {
    api = await startApiServer({ store: db.store, client: db.client, registry: db.store.registry });
  }, 30_000);
  afterAll(async () => {
    await api?.close();
  });

  it('answers each of a burst of concurrent POSTs as Marathon does and writes the valid ones in fewer transactions than apps', async () => {
    await prepare(api.url, 'burst', 10_150);
    const { definitions, fresh } = scenario('burst', 10_150);
    const answers = await burst(api.url, definitions);
    expectAnswers(answers, 'burst', fresh);

    expect(await storedNames('burst')).toEqual(['existing', 'holder', ...fresh.map((id) => id.split('/')[2]!)].sort());
    const created = (await db.store.list('App', { namespace: 'burst' })).items.filter((a) => a.metadata.name.startsWith('app-'));
    // One transaction per group: apps of one group share the revision they were created at.
    const revisions = new Set(created.map((a) => a.metadata.resourceVersion));
    expect(revisions.size).toBeLessThan(created.length);
    // The one posted twice holds the definition of the request that was answered 201.
    const winner = answers.find((a) => a.id === fresh[3] && a.status === 201)!;
    const stored = created.find((a) => a.metadata.name === 'app-3')!;
    expect((stored.spec as { instances: number }).instances).toBe((winner.body as { instances?: number }).instances);
  });
});

describe('POST /v2/apps when a group does not fit one transaction', () => {
  let api: RunningApiServer;
  beforeAll(async () => {
    // etcd takes far more; this store believes a transaction carries no bytes at all, so every
    // group's write is refused before it is sent ('tooLarge') and each app is created on its own.
    const tiny = new Store(db.client, db.store.registry, undefined, { maxTxnOps: 10_000, maxRequestBytes: 1 });
    api = await startApiServer({ store: tiny, client: db.client, registry: db.store.registry });
  }, 30_000);
  afterAll(async () => {
    await api?.close();
  });

  it('creates each app on its own with the same answers', async () => {
    await prepare(api.url, 'fallback', 10_151);
    const { definitions, fresh } = scenario('fallback', 10_151);
    expectAnswers(await burst(api.url, definitions), 'fallback', fresh);
    expect(await storedNames('fallback')).toEqual(['existing', 'holder', ...fresh.map((id) => id.split('/')[2]!)].sort());
    const created = (await db.store.list('App', { namespace: 'fallback' })).items.filter((a) => a.metadata.name.startsWith('app-'));
    expect(new Set(created.map((a) => a.metadata.resourceVersion)).size).toBe(created.length);
  });
});
