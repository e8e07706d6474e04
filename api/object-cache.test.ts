import { describe, expect, it } from 'vitest';
import type { Part } from './keys.ts';
import { indexValues, ObjectCache, type IndexName, type InformerEvent, type Kv, type StoredParts } from './object-cache.ts';
import type { AnyObject, DeepReadonly } from './object.ts';

let revision = 0;
const kv = (value: unknown): Kv => ({ key: Buffer.from(''), value: Buffer.from(JSON.stringify(value)), mod_revision: String((revision += 1)) });
const parsed = (value: unknown) => ({ value, revision: BigInt((revision += 1)) });

const owner = (uid: string) => ({ apiVersion: 'capstan/v1', kind: 'Revision', name: `r-${uid}`, uid, controller: true });

function task(name: string, fields: { owners?: string[]; app?: string; node?: string } = {}): AnyObject {
  return {
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, ...(fields.owners ? { ownerReferences: fields.owners.map(owner) } : {}) },
    spec: { ...(fields.app ? { app: fields.app } : {}), ...(fields.node ? { nodeName: fields.node } : {}) },
  };
}

const app = (name: string, namespace = 'ns'): AnyObject => ({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace, uid: `uid-${name}` }, spec: {} });
const node = (name: string): AnyObject => ({ apiVersion: 'capstan/v1', kind: 'Node', metadata: { name }, spec: { address: '10.0.0.1' } });

const keyOf = (o: AnyObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);
const names = (objects: readonly DeepReadonly<AnyObject>[]) => objects.map((o) => o.metadata.name);

/** A cache holding `objects`, as a list fills one. */
function cacheOf(...objects: AnyObject[]): ObjectCache {
  const cache = new ObjectCache();
  cache.replace(
    objects.map((o) => ({ key: keyOf(o), spec: parsed(o) })),
    false,
  );
  return cache;
}

describe('indexValues', () => {
  it.each<[string, IndexName, AnyObject, string[]]>([
    ['a task by each owner uid', 'owner', task('t', { owners: ['a', 'b'] }), ['a', 'b']],
    ['an object without owners by none', 'owner', task('t'), []],
    ['a task by namespace/spec.app', 'app', task('t', { app: 'web' }), ['ns/web']],
    ['an App by its own key', 'app', app('web', 'prod'), ['prod/web']],
    ['an object naming no App by none', 'app', node('n1'), []],
    ['a bound task by its node', 'node', task('t', { node: 'n1' }), ['n1']],
    ['an unbound task by none', 'node', task('t'), []],
  ])('files %s', (_, index, object, expected) => {
    expect(indexValues(index, object)).toEqual(expected);
  });
});

describe('ObjectCache indexes', () => {
  it.each<[string, IndexName, string, string[]]>([
    ['tasks of an owner, ordered by key', 'owner', 'r1', ['a', 'b', 'c']],
    ['a task with two owners under each', 'owner', 'r2', ['c']],
    ['tasks of an App', 'app', 'ns/web', ['a', 'b']],
    ['the App itself', 'app', 'ns/db', ['db']],
    ['tasks of a node', 'node', 'n1', ['b', 'c']],
    ['nothing for an unknown value', 'node', 'n9', []],
  ])('finds %s', (_, index, value, expected) => {
    const cache = cacheOf(
      task('c', { owners: ['r1', 'r2'], app: 'api', node: 'n1' }),
      task('a', { owners: ['r1'], app: 'web' }),
      task('b', { owners: ['r1'], app: 'web', node: 'n1' }),
      app('db'),
    );
    expect(names(cache.byIndex(index, value))).toEqual(expected);
  });

  it('returns a fresh array each time', () => {
    const cache = cacheOf(task('a', { node: 'n1' }));
    const first = cache.byIndex('node', 'n1');
    first.pop();
    expect(names(cache.byIndex('node', 'n1'))).toEqual(['a']);
  });

  it('refiles an object whose owner or node changes, and drops a deleted one', () => {
    const cache = new ObjectCache();
    cache.put('spec', 'ns/t', kv(task('t', { owners: ['r1'] })));
    expect(names(cache.byIndex('owner', 'r1'))).toEqual(['t']);

    cache.put('spec', 'ns/t', kv(task('t', { owners: ['r2'] })));
    expect(names(cache.byIndex('owner', 'r1'))).toEqual([]);
    expect(names(cache.byIndex('owner', 'r2'))).toEqual(['t']);

    // A binding joins spec.nodeName into the spec: the task is filed under its node from then on.
    cache.put('binding', 'ns/t', kv({ nodeName: 'n1', hostPorts: [] }));
    expect(names(cache.byIndex('node', 'n1'))).toEqual(['t']);
    expect(cache.byIndex('node', 'n1')[0]).toBe(cache.get('ns/t'));

    cache.put('status', 'ns/t', kv({ phase: 'Running' }));
    expect(cache.byIndex('owner', 'r2')[0]?.status).toEqual({ phase: 'Running' });

    cache.delete('spec', 'ns/t');
    expect(cache.byIndex('owner', 'r2')).toEqual([]);
    expect(cache.byIndex('node', 'n1')).toEqual([]);
  });

  it('files no object for a status or binding that arrives before its spec', () => {
    const cache = new ObjectCache();
    cache.put('binding', 'ns/t', kv({ nodeName: 'n1', hostPorts: [] }));
    expect(cache.byIndex('node', 'n1')).toEqual([]);
    cache.put('spec', 'ns/t', kv(task('t')));
    expect(names(cache.byIndex('node', 'n1'))).toEqual(['t']);
  });

  it('after a re-list, answers for the new state and emits only the difference', () => {
    const cache = cacheOf(task('kept', { owners: ['r1'], node: 'n1' }), task('moved', { owners: ['r1'], node: 'n1' }), task('gone', { owners: ['r1'] }));
    const events: InformerEvent[] = [];
    cache.events$.subscribe((event) => events.push(event));
    const kept = cache.get('ns/kept')!;

    const relisted: ({ key: string } & StoredParts)[] = [
      { key: 'ns/kept', spec: { value: task('kept', { owners: ['r1'], node: 'n1' }), revision: BigInt(kept.metadata.resourceVersion!) } },
      { key: 'ns/moved', spec: parsed(task('moved', { owners: ['r2'], node: 'n2' })) },
      { key: 'ns/new', spec: parsed(task('new', { owners: ['r1'] })) },
    ];
    cache.replace(relisted, true);

    expect(events.map((e) => `${e.type} ${e.key}`)).toEqual(['deleted ns/gone', 'modified ns/moved', 'added ns/new']);
    expect(names(cache.byIndex('owner', 'r1'))).toEqual(['kept', 'new']);
    expect(names(cache.byIndex('owner', 'r2'))).toEqual(['moved']);
    expect(names(cache.byIndex('node', 'n1'))).toEqual(['kept']);
    expect(names(cache.byIndex('node', 'n2'))).toEqual(['moved']);
  });

  it.each<[string, (cache: ObjectCache) => void]>([
    ['a list', (cache) => cache.replace([{ key: 'ns/t', spec: parsed(task('t', { owners: ['r1'] })) }], false)],
    ['an add read on its own', (cache) => cache.add('ns/t', { spec: parsed(task('t', { owners: ['r1'] })) })],
    ['a watched put', (cache) => cache.put('spec', 'ns/t', kv(task('t', { owners: ['r1'] })))],
  ])('indexes an object that arrives by %s', (_, arrive) => {
    const cache = new ObjectCache();
    arrive(cache);
    expect(names(cache.byIndex('owner', 'r1'))).toEqual(['t']);
  });
});
