// The native API against a real etcd, over real HTTP: kinds, list and get (all namespaces, one
// namespace, label selectors), apply (YAML with every problem located by line and column, nothing
// written; dry run; a CustomKind served as soon as it is applied), delete, and watch as NDJSON and as
// server-sent events, in order and filtered; a watcher that stops reading is cut off with a final
// ERROR line while another watcher keeps receiving every change.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { registerNativeRoutes } from '../api/http/native.ts';
import { startApiServer, type RunningApiServer } from '../api/http/server.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { AnyObject } from '../api/object.ts';
import { useStore } from './helpers/etcd.ts';
import { widget, widgetKind } from './helpers/kinds.ts';
import { until } from './helpers/poll.ts';

const db = useStore(builtinRegistry().register(widgetKind));
/** Small, so the slow watcher below overflows after a few megabytes rather than many. */
const WATCH_LIMIT_BYTES = 256 * 1024;
const warnings: string[] = [];
let server: RunningApiServer;

beforeAll(async () => {
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  server = await startApiServer({
    store: db.store,
    client: db.client,
    registry: db.store.registry,
    log,
    routes: [(s, ctx) => registerNativeRoutes(s, ctx, { watchBufferLimitBytes: WATCH_LIMIT_BYTES })],
  });
});
afterAll(() => server?.close());

interface WatchEvent {
  type: string;
  object: AnyObject & { reason?: string; message?: string };
}

const get = async (path: string) => {
  const response = await fetch(`${server.url}${path}`);
  return { status: response.status, body: (await response.json()) as any };
};
const apply = async (text: string, query = '') => {
  const response = await fetch(`${server.url}/api/v1/apply${query}`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: text });
  return { status: response.status, body: (await response.json()) as any };
};
const names = (list: { items: AnyObject[] }) => list.items.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`);

/** A watch read as it arrives, NDJSON lines or SSE blocks, into `events`. */
function watch(path: string, format: 'ndjson' | 'sse') {
  const events: WatchEvent[] = [];
  const abort = new AbortController();
  const headers: Record<string, string> = format === 'sse' ? { accept: 'text/event-stream' } : {};
  const done = (async () => {
    const response = await fetch(`${server.url}${path}`, { headers, signal: abort.signal });
    expect(response.headers.get('content-type')).toBe(format === 'sse' ? 'text/event-stream' : 'application/x-ndjson');
    const decoder = new TextDecoder();
    let buffered = '';
    const separator = format === 'sse' ? '\n\n' : '\n';
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let at: number;
      while ((at = buffered.indexOf(separator)) >= 0) {
        const part = buffered.slice(0, at);
        buffered = buffered.slice(at + separator.length);
        if (format === 'ndjson') events.push(JSON.parse(part) as WatchEvent);
        else {
          const type = /^event: (.+)$/m.exec(part)?.[1];
          const data = JSON.parse(/^data: (.+)$/m.exec(part)![1]!) as WatchEvent;
          expect(data.type).toBe(type);
          events.push(data);
        }
      }
    }
  })().catch((error: unknown) => {
    if ((error as Error).name !== 'AbortError') throw error;
  });
  return { events, close: () => abort.abort(), done };
}

const seen = (events: WatchEvent[]) => events.map((e) => `${e.type} ${e.object.metadata.name}${e.object.spec ? ` ${(e.object.spec as { size: number }).size}` : ''}`);

describe('reading', () => {
  beforeAll(async () => {
    await db.client.delete().prefix('/capstan/');
    const result = await apply(
      [
        'apiVersion: capstan/v1',
        'kind: Widget',
        'metadata: {name: red, namespace: shop, labels: {tier: front}}',
        'spec: {size: 1}',
        '---',
        'apiVersion: capstan/v1',
        'kind: Widget',
        'metadata: {name: blue, namespace: shop, labels: {tier: back}}',
        'spec: {size: 2}',
        '---',
        'apiVersion: capstan/v1',
        'kind: Widget',
        'metadata: {name: green, namespace: lab, labels: {tier: front}}',
        'spec: {size: 3}',
      ].join('\n'),
    );
    expect(result.status).toBe(200);
    expect(result.body.objects.map((o: { outcome: string; name: string }) => `${o.outcome} ${o.name}`)).toEqual(['created red', 'created blue', 'created green']);
    await until(async () => (await get('/api/v1/widgets')).body.items.length === 3 || undefined, { timeoutMs: 10_000, what: 'the informer to hold the three widgets' });
  });

  it('lists every kind, built-in and registered, with its plural and scope', async () => {
    const { status, body } = await get('/api/v1/kinds');
    expect(status).toBe(200);
    expect(body).toMatchObject({ kind: 'APIResourceList', groupVersion: 'capstan/v1' });
    expect(body.resources).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'apps', kind: 'App', namespaced: true }),
        expect.objectContaining({ name: 'nodes', kind: 'Node', namespaced: false }),
        expect.objectContaining({ name: 'widgets', kind: 'Widget', namespaced: true, shortNames: ['wd'] }),
      ]),
    );
  });

  it.each([
    ['/api/v1/widgets', ['lab/green', 'shop/blue', 'shop/red']],
    ['/api/v1/namespaces/shop/widgets', ['shop/blue', 'shop/red']],
    ['/api/v1/widgets?labelSelector=tier%3Dfront', ['lab/green', 'shop/red']],
    ['/api/v1/namespaces/shop/widgets?labelSelector=tier%20in%20(front)', ['shop/red']],
    ['/api/v1/widgets?labelSelector=tier!%3Dfront,tier', ['shop/blue']],
  ])('GET %s', async (path, expected) => {
    const { status, body } = await get(path);
    expect(status).toBe(200);
    expect(body).toMatchObject({ apiVersion: 'capstan/v1', kind: 'WidgetList' });
    expect(names(body)).toEqual(expected);
  });

  it('gets one object by namespace and name', async () => {
    const { status, body } = await get('/api/v1/namespaces/shop/widgets/blue');
    expect(status).toBe(200);
    expect(body).toMatchObject({ kind: 'Widget', metadata: { name: 'blue', namespace: 'shop', labels: { tier: 'back' }, uid: expect.any(String) }, spec: { size: 2 } });
  });

  it.each([
    ['/api/v1/namespaces/shop/widgets/nothing', 404, 'NotFound', /^Widget "nothing" not found$/],
    ['/api/v1/gadgets', 404, 'NotFound', /^unknown resource "gadgets": expected one of .*widgets/],
    ['/api/v1/widgets/red', 404, 'NotFound', /widgets are namespaced: use \/api\/v1\/namespaces\/\{namespace\}\/widgets\/\{name\}/],
    ['/api/v1/namespaces/shop/nodes', 404, 'NotFound', /nodes are cluster-scoped/],
    ['/api/v1/widgets?labelSelector=%3Dx', 400, 'BadRequest', /^labelSelector: /],
    ['/api/v1/widgets?watch=yes', 400, 'BadRequest', /^watch: /],
  ])('GET %s → %i with a Status saying why', async (path, code, reason, message) => {
    const { status, body } = await get(path);
    expect(status).toBe(code);
    expect(body).toMatchObject({ kind: 'Status', status: 'Failure', reason, code });
    expect(body.message).toMatch(message);
  });
});

describe('apply and delete', () => {
  beforeAll(() => db.client.delete().prefix('/capstan/'));

  it('answers 422 with every problem located by line and column, and writes nothing', async () => {
    const text = [
      'apiVersion: capstan/v1',
      'kind: Widget',
      'metadata: {name: fine, namespace: shop}',
      'spec: {size: 1}',
      '---',
      'apiVersion: capstan/v1',
      'kind: Widget',
      'metadata:',
      '  name: broken',
      '  namespace: shop',
      'spec:',
      '  size: big',
      '  colour: red',
    ].join('\n');
    const { status, body } = await apply(text);
    expect(status).toBe(422);
    expect(body).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422, message: '2 problems in the body: nothing was applied' });
    expect(body.details.causes).toEqual([
      expect.objectContaining({ field: 'spec.size', line: 12, column: 3, expected: expect.stringMatching(/number|integer/), found: expect.stringMatching(/big/) }),
      expect.objectContaining({ field: 'spec.colour', line: 13, column: 3 }),
    ]);
    expect(body.details.causes[0].message).toMatch(/^body:12:3: spec\.size: expected .*, found .*big/);
    expect(await db.store.get('Widget', { namespace: 'shop', name: 'fine' })).toBeUndefined();
  });

  it('answers a YAML syntax error 422 with its line, and writes nothing', async () => {
    const { status, body } = await apply('apiVersion: capstan/v1\nkind: Widget\nmetadata: {name: x\nspec: {}\n');
    expect(status).toBe(422);
    expect(body.details.causes[0]).toMatchObject({ expected: 'valid YAML', line: expect.any(Number) });
  });

  it('plans on ?dryRun=true and writes nothing', async () => {
    const { status, body } = await apply('apiVersion: capstan/v1\nkind: Widget\nmetadata: {name: dry, namespace: shop}\nspec: {size: 4}\n', '?dryRun=true');
    expect(status).toBe(200);
    expect(body).toMatchObject({ dryRun: true, objects: [{ outcome: 'created', kind: 'Widget', name: 'dry' }] });
    expect(await db.store.get('Widget', { namespace: 'shop', name: 'dry' })).toBeUndefined();
  });

  it.each([['curl --data-binary, form-encoded', 'application/x-www-form-urlencoded'], ['no content type', undefined]])('reads the body whatever its content type: %s', async (_name, type) => {
    const name = type ? 'form' : 'untyped';
    const body = new TextEncoder().encode(`apiVersion: capstan/v1\nkind: Widget\nmetadata: {name: ${name}, namespace: shop}\nspec: {size: 1}\n`);
    const response = await fetch(`${server.url}/api/v1/apply`, { method: 'POST', headers: type ? { 'content-type': type } : {}, body });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { objects: { outcome: string }[] }).objects[0]!.outcome).toBe('created');
  });

  it('accepts JSON, and says unchanged on a second apply', async () => {
    const json = JSON.stringify(widget('jay', 2, 'shop'));
    expect((await apply(json)).body.objects[0].outcome).toBe('created');
    const again = await apply(json);
    expect(again.body.objects[0]).toMatchObject({ outcome: 'unchanged', object: { metadata: { labels: { 'capstan.io/inventory': 'api' } } } });
  });

  it('takes Marathon JSON, translated as `capstan apply` translates it, its problems at their JSON line and column', async () => {
    const app = { id: '/shop/web', cmd: 'sleep 100', instances: 2, cpus: 0.1, mem: 32 };
    const created = await apply(JSON.stringify(app, null, 2));
    expect(created.status).toBe(200);
    expect(created.body.objects).toEqual([expect.objectContaining({ outcome: 'created', kind: 'App', namespace: 'shop', name: 'web' })]);
    expect(await db.store.get('App', { namespace: 'shop', name: 'web' })).toMatchObject({ metadata: { annotations: { 'marathon.capstan.io/id': '/shop/web' } }, spec: { instances: 2 } });
    const text = JSON.stringify({ ...app, id: '/shop/worse', instances: 'two' }, null, 2);
    const refused = await apply(text);
    expect(refused.status).toBe(422);
    const line = text.split('\n').findIndex((l) => l.includes('"instances"')) + 1;
    expect(refused.body.details.causes).toEqual([expect.objectContaining({ field: 'instances', line, column: 3 })]);
    expect(await db.store.get('App', { namespace: 'shop', name: 'worse' })).toBeUndefined();
  });

  it('serves a CustomKind as soon as it is applied, objects of it included', async () => {
    const { status } = await apply(
      [
        'apiVersion: capstan/v1',
        'kind: CustomKind',
        'metadata: {name: databases}',
        'spec:',
        '  names: {kind: Database, plural: databases}',
        '  schema: {type: object, properties: {engine: {type: string}}, required: [engine]}',
        '---',
        'apiVersion: capstan/v1',
        'kind: Database',
        'metadata: {name: orders, namespace: shop}',
        'spec: {engine: postgres}',
      ].join('\n'),
    );
    expect(status).toBe(200);
    const listed = await until(async () => {
      const { status: code, body } = await get('/api/v1/databases');
      return code === 200 && body.items.length === 1 ? body : undefined;
    }, { timeoutMs: 10_000, what: 'GET /api/v1/databases to list orders' });
    expect(names(listed)).toEqual(['shop/orders']);
    expect((await get('/api/v1/kinds')).body.resources).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'databases', kind: 'Database' })]));
  });

  it('deletes an object: 200 with a Status, then 404', async () => {
    await db.store.create(widget('doomed', 1, 'shop'));
    const response = await fetch(`${server.url}/api/v1/namespaces/shop/widgets/doomed`, { method: 'DELETE' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'doomed', kind: 'Widget' } });
    expect(await db.store.get('Widget', { namespace: 'shop', name: 'doomed' })).toBeUndefined();
    expect((await fetch(`${server.url}/api/v1/namespaces/shop/widgets/doomed`, { method: 'DELETE' })).status).toBe(404);
  });
});

describe('watch', () => {
  beforeAll(async () => {
    await db.client.delete().prefix('/capstan/');
    await db.store.create({ ...widget('before', 1, 'shop'), metadata: { name: 'before', namespace: 'shop', labels: { tier: 'front' } } });
  });

  it.each(['ndjson', 'sse'] as const)('streams ADDED, MODIFIED and DELETED in order, filtered by namespace and label (%s)', async (format) => {
    const name = `w-${format}`;
    const reader = watch('/api/v1/namespaces/shop/widgets?watch=true&labelSelector=tier%3Dfront', format);
    try {
      await until(() => reader.events.length >= 1 || undefined, { timeoutMs: 10_000, what: 'the current objects' });
      const labelled = (size: number, tier: string) => ({ ...widget(name, size, 'shop'), metadata: { name, namespace: 'shop', labels: { tier } } });
      await db.store.create(labelled(1, 'front'));
      await db.store.create({ ...widget(`${name}-back`, 1, 'shop'), metadata: { name: `${name}-back`, namespace: 'shop', labels: { tier: 'back' } } });
      await db.store.create({ ...widget(name, 1, 'lab'), metadata: { name, namespace: 'lab', labels: { tier: 'front' } } });
      const created = await until(async () => db.store.get('Widget', { namespace: 'shop', name }), { what: 'the widget' });
      const updated = await db.store.update({ ...created, spec: { size: 2 } });
      // Out of the selection: a DELETED for this watcher, though the object lives on.
      await db.store.update({ ...updated, metadata: { ...updated.metadata, labels: { tier: 'back' } } });
      const moved = (await db.store.get('Widget', { namespace: 'shop', name }))!;
      await db.store.update({ ...moved, metadata: { ...moved.metadata, labels: { tier: 'front' } } });
      await db.store.delete('Widget', { namespace: 'shop', name });
      await until(() => reader.events.length >= 6 || undefined, { timeoutMs: 10_000, what: `six events (got ${seen(reader.events).join(', ')})` });
      expect(seen(reader.events)).toEqual(['ADDED before 1', `ADDED ${name} 1`, `MODIFIED ${name} 2`, `DELETED ${name} 2`, `ADDED ${name} 2`, `DELETED ${name} 2`]);
    } finally {
      reader.close();
      await reader.done;
    }
  });

  it('cuts off a watcher that stops reading, with a final ERROR line, while another receives every change', async () => {
    const fast = watch('/api/v1/namespaces/shop/widgets?watch=true', 'ndjson');
    // A raw client that sends its request and then reads nothing until told.
    const slow = connect(Number(new URL(server.url).port), '127.0.0.1');
    let slowText = '';
    const slowEnded = new Promise<void>((resolve) => slow.on('end', resolve).on('close', resolve));
    slow.on('data', (chunk) => (slowText += chunk.toString()));
    await new Promise<void>((resolve) => slow.once('connect', resolve));
    slow.write('GET /api/v1/namespaces/shop/widgets?watch=true HTTP/1.1\r\nHost: test\r\n\r\n');
    await until(() => slowText.includes('"ADDED"') || undefined, { timeoutMs: 10_000, what: 'the slow watcher to start' });
    slow.pause();
    try {
      const big = 'x'.repeat(100_000);
      let current = await db.store.create({ ...widget('big', 1, 'shop'), spec: { size: 1, note: big } });
      let updates = 0;
      // Each change is ~100 KB on the wire; the kernel's socket buffers take a few megabytes first.
      while (!warnings.some((w) => w.includes('watch closed')) && updates < 400) {
        current = await db.store.update({ ...current, spec: { size: updates + 2, note: big } });
        updates += 1;
      }
      expect(warnings.some((w) => w.includes('watch closed'))).toBe(true);
      const last = updates + 1;
      await until(() => fast.events.some((e) => e.object.metadata.name === 'big' && (e.object.spec as { size: number }).size === last) || undefined, {
        timeoutMs: 20_000,
        what: `the fast watcher to see size ${last}`,
      });
      const sizes = fast.events.filter((e) => e.object.metadata.name === 'big').map((e) => (e.object.spec as { size: number }).size);
      expect(sizes).toEqual(Array.from({ length: last }, (_, i) => i + 1));
      slow.resume();
      await slowEnded;
      const lines = slowText.split('\n').filter((line) => line.startsWith('{'));
      const final = JSON.parse(lines.at(-1)!) as WatchEvent;
      expect(final).toMatchObject({ type: 'ERROR', object: { kind: 'Status', reason: 'TooSlow', code: 410 } });
      expect(final.object.message).toMatch(/fell more than 262144 bytes behind/);
    } finally {
      slow.destroy();
      fast.close();
      await fast.done;
    }
  });
});
