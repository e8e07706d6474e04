import { describe, expect, it } from 'vitest';
import { indexValues, type IndexName } from '../../api/object-cache.ts';
import type { AnyObject, DeepReadonly } from '../../api/object.ts';
import type { Cache } from '../contract.ts';
import { SchedulerState } from './state.ts';

/** A cache as the informers keep one: every change replaces the object. */
class MapCache implements Cache {
  readonly objects = new Map<string, DeepReadonly<AnyObject>>();
  get(key: string) {
    return this.objects.get(key);
  }
  list() {
    return [...this.objects.values()];
  }
  keys() {
    return [...this.objects.keys()];
  }
  byIndex(index: IndexName, value: string) {
    return this.list().filter((object) => indexValues(index, object).includes(value));
  }
}

const node = (name: string): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'Node',
  metadata: { name },
  spec: { address: '127.0.0.1', attributes: {}, capacity: { cpus: 2, mem: 1024 }, portRange: { from: 31000, to: 31009 }, drivers: ['process'], unschedulable: false },
  status: { conditions: [{ type: 'Ready', status: 'True' }] },
});

const task = (name: string, binding?: { node: string; port: number }, phase = 'Pending'): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'Task',
  metadata: { name, namespace: 'ns', uid: `uid-${name}`, creationTimestamp: '2026-01-01T00:00:00Z', ...(binding ? { finalizers: ['capstan.io/agent'] } : {}) },
  spec: {
    app: 'web',
    revision: 1,
    template: { driver: 'process', containers: [{ name: 'main', resources: { cpus: 0.5, mem: 128, disk: 0, gpus: 0 } }], ports: [{ name: 'http', hostPort: 0 }], constraints: [] },
    ...(binding ? { nodeName: binding.node, hostPorts: [binding.port] } : {}),
  },
  status: { phase },
});

function setup() {
  const tasks = new MapCache();
  const nodes = new MapCache();
  nodes.objects.set('n1', node('n1'));
  const volumes = new MapCache();
  const state = new SchedulerState();
  return { tasks, nodes, volumes, state };
}

const held = (state: SchedulerState) => ({ cpus: state.snapshot.usedOn('n1').cpus, ports: [...state.snapshot.portsOn('n1')] });

describe('SchedulerState follows the caches by what changed', () => {
  it('lists pending tasks, and counts a bound one once whether assumed, cached, or both', () => {
    const { tasks, nodes, volumes, state } = setup();
    tasks.objects.set('ns/a', task('a'));
    tasks.objects.set('ns/b', task('b', { node: 'n1', port: 31000 }));
    state.sync(tasks, nodes, volumes);
    expect([...state.pending.keys()]).toEqual(['ns/a']);
    expect(held(state)).toEqual({ cpus: 0.5, ports: [31000] });

    state.assume('ns/a', { app: 'ns/web', revision: 1, node: 'n1', resources: { cpus: 0.5, mem: 128, disk: 0, gpus: 0 }, hostPorts: [31001] });
    expect(state.pending.size).toBe(0);
    expect(held(state)).toEqual({ cpus: 1, ports: [31000, 31001] });
    // The cache has not caught up: still pending there, but assumed here.
    state.sync(tasks, nodes, volumes);
    expect(state.pending.size).toBe(0);
    // The echo of the binding arrives: same binding, nothing counted twice.
    tasks.objects.set('ns/a', task('a', { node: 'n1', port: 31001 }));
    state.sync(tasks, nodes, volumes);
    expect(held(state)).toEqual({ cpus: 1, ports: [31000, 31001] });
  });

  it('frees what a finished or deleted task held', () => {
    const { tasks, nodes, volumes, state } = setup();
    tasks.objects.set('ns/a', task('a', { node: 'n1', port: 31000 }));
    tasks.objects.set('ns/b', task('b', { node: 'n1', port: 31001 }));
    state.sync(tasks, nodes, volumes);
    tasks.objects.set('ns/a', task('a', { node: 'n1', port: 31000 }, 'Finished'));
    tasks.objects.delete('ns/b');
    state.sync(tasks, nodes, volumes);
    expect(held(state)).toEqual({ cpus: 0, ports: [] });
  });

  it('puts a task whose binding was not written back among the pending', () => {
    const { tasks, nodes, volumes, state } = setup();
    tasks.objects.set('ns/a', task('a'));
    state.sync(tasks, nodes, volumes);
    state.assume('ns/a', { app: 'ns/web', revision: 1, node: 'n1', resources: { cpus: 0.5, mem: 128, disk: 0, gpus: 0 }, hostPorts: [31000] });
    state.unassume('ns/a');
    expect(held(state)).toEqual({ cpus: 0, ports: [] });
    state.sync(tasks, nodes, volumes);
    expect([...state.pending.keys()]).toEqual(['ns/a']);
  });

  it('sees nodes come and go', () => {
    const { tasks, nodes, volumes, state } = setup();
    state.sync(tasks, nodes, volumes);
    expect(state.snapshot.nodes.map((n) => n.name)).toEqual(['n1']);
    nodes.objects.set('n0', node('n0'));
    state.sync(tasks, nodes, volumes);
    expect(state.snapshot.nodes.map((n) => n.name)).toEqual(['n0', 'n1']);
    nodes.objects.delete('n1');
    state.sync(tasks, nodes, volumes);
    expect(state.snapshot.nodes.map((n) => n.name)).toEqual(['n0']);
  });

  it('counts a Volume it created until the cache shows it, then as the cache says, and its slot while a task holds it', () => {
    const { tasks, nodes, volumes, state } = setup();
    const volume = (deleting = false): AnyObject => ({
      apiVersion: 'capstan/v1',
      kind: 'Volume',
      metadata: { name: 'web-data-0', namespace: 'ns', ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:01Z' } : {}) },
      spec: { app: 'web', volume: 'data', slot: 0, size: 300, nodeName: 'n1' },
    });
    const disk = () => state.snapshot.usedOn('n1').disk;
    const slots = () => [...state.snapshot.slotsOf('ns/web').keys()];
    state.sync(tasks, nodes, volumes);
    state.created({ key: 'ns/web-data-0', name: 'web-data-0', app: 'ns/web', volume: 'data', slot: 0, size: 300, node: 'n1', deleting: false });
    state.assume('ns/a', { app: 'ns/web', revision: 1, node: 'n1', resources: { cpus: 0.5, mem: 128, disk: 0, gpus: 0 }, hostPorts: [31000], slot: 0 });
    expect({ disk: disk(), slots: slots(), held: [...state.snapshot.heldSlots('ns/web').keys()] }).toEqual({ disk: 300, slots: [0], held: [0] });
    // The cache is behind: the created Volume still counts, once.
    state.sync(tasks, nodes, volumes);
    expect(disk()).toBe(300);
    volumes.objects.set('ns/web-data-0', volume());
    state.sync(tasks, nodes, volumes);
    expect(disk()).toBe(300);
    volumes.objects.set('ns/web-data-0', volume(true));
    state.sync(tasks, nodes, volumes);
    expect(state.snapshot.slotsOf('ns/web').get(0)?.[0]?.deleting).toBe(true);
    volumes.objects.delete('ns/web-data-0');
    state.sync(tasks, nodes, volumes);
    expect({ disk: disk(), slots: slots() }).toEqual({ disk: 0, slots: [] });
    state.unassume('ns/a');
    expect(state.snapshot.heldSlots('ns/web').size).toBe(0);
  });
});
