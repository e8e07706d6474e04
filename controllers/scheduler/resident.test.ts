import { describe, expect, it } from 'vitest';
import { placeResident, type ResidentPlacement } from './resident.ts';
import { Snapshot, type BoundTask, type NodeView, type TaskDemand, type VolumeView } from './snapshot.ts';
import { Stack } from './stack.ts';

const node = (name: string, extra: Partial<NodeView> = {}): NodeView => ({
  name,
  attributes: { hostname: name },
  capacity: { cpus: 4, mem: 4096, disk: 1000, gpus: 0 },
  portRange: { from: 31000, to: 31009 },
  drivers: ['docker', 'process'],
  ready: true,
  unschedulable: false,
  ...extra,
});

const demand: TaskDemand = { key: 'ns/db-x', app: 'ns/db', revision: 1, runtimes: ['process'], resources: { cpus: 0.1, mem: 16, disk: 0, gpus: 0 }, ports: [0], constraints: [] };

/** The Volume of `volume` for `slot` on `node` (size 100 unless said). */
const vol = (slot: number, nodeName: string, extra: Partial<VolumeView> = {}): VolumeView => ({
  key: `ns/db-data-${slot}`,
  name: `db-data-${slot}`,
  app: 'ns/db',
  volume: 'data',
  slot,
  size: 100,
  node: nodeName,
  deleting: false,
  ...extra,
});

/** A bound task of db holding `slot` on `nodeName`. */
const holder = (slot: number, nodeName: string): BoundTask => ({ app: 'ns/db', revision: 1, node: nodeName, resources: demand.resources, hostPorts: [], slot });

function place(options: { nodes: NodeView[]; volumes?: VolumeView[]; held?: BoundTask[]; instances?: number; persistent?: { name: string; size: number }[] }): ResidentPlacement {
  const snapshot = new Snapshot(options.nodes, options.held ?? []);
  for (const volume of options.volumes ?? []) snapshot.assumeVolume(volume);
  return placeResident({ demand, persistent: options.persistent ?? [{ name: 'data', size: 100 }], instances: options.instances ?? 3, stack: new Stack(), snapshot });
}

const summary = (result: ResidentPlacement) =>
  result.kind === 'placed' ? { slot: result.slot, node: result.placement.node, create: result.create.map((v) => v.name) } : { message: result.message };

describe('placeResident', () => {
  it.each<[string, Parameters<typeof place>[0], ReturnType<typeof summary>]>([
    ['no slot yet: slot 0 is made where the stack chooses, with every persistent volume', { nodes: [node('n1'), node('n2')] }, { slot: 0, node: 'n1', create: ['data'] }],
    [
      'slot 0 held: slot 1 is made, spread away from the holder',
      { nodes: [node('n1'), node('n2')], volumes: [vol(0, 'n1')], held: [holder(0, 'n1')] },
      { slot: 1, node: 'n2', create: ['data'] },
    ],
    ['a free slot is taken on its own node, even when another node is emptier', { nodes: [node('n1'), node('n2')], volumes: [vol(0, 'n2')] }, { slot: 0, node: 'n2', create: [] }],
    [
      'the lowest free slot first',
      { nodes: [node('n1'), node('n2'), node('n3')], volumes: [vol(2, 'n3'), vol(1, 'n2'), vol(0, 'n1')], held: [holder(0, 'n1')] },
      { slot: 1, node: 'n2', create: [] },
    ],
    [
      'a free slot on a node not ready: the task waits for it, no new slot',
      { nodes: [node('n1', { ready: false }), node('n2')], volumes: [vol(0, 'n1')], instances: 3 },
      { message: 'waiting for node n1, which holds volume db-data-0 (slot 0): the node is not ready; wipe the volume (capstan delete volume db-data-0) to free the slot' },
    ],
    [
      'a free slot on a node that is gone: waits, and says how to free it',
      { nodes: [node('n2')], volumes: [vol(0, 'n1')] },
      { message: 'waiting for node n1, which holds volume db-data-0 (slot 0): the node is gone; it comes back when its agent registers again, or wipe the volume (capstan delete volume db-data-0) to free the slot' },
    ],
    [
      'a higher free slot on a live node beats waiting for the lowest',
      { nodes: [node('n1', { ready: false }), node('n2')], volumes: [vol(0, 'n1'), vol(1, 'n2')] },
      { slot: 1, node: 'n2', create: [] },
    ],
    [
      'every slot held and as many as instances: waits for a free slot',
      { nodes: [node('n1')], volumes: [vol(0, 'n1')], held: [holder(0, 'n1')], instances: 1 },
      { message: 'waiting for a free slot: each of the 1 slots of ns/db is held by a live task, and it asks for 1 instances; a slot frees when its task has stopped' },
    ],
    [
      'every slot held, one by a task on a node not ready (Lost, not let go yet): waits for that node',
      { nodes: [node('n1'), node('n2', { ready: false })], volumes: [vol(0, 'n1'), vol(1, 'n2')], held: [holder(0, 'n1'), holder(1, 'n2')], instances: 2 },
      { message: 'waiting for node n2, which holds volume db-data-1 (slot 1): the node is not ready; wipe the volume (capstan delete volume db-data-1) to free the slot' },
    ],
    [
      'a slot being wiped is not taken, and its number not made again until it is gone',
      { nodes: [node('n1')], volumes: [vol(0, 'n1', { deleting: true })], instances: 1 },
      { message: 'waiting for volume db-data-0 (slot 0) to be wiped' },
    ],
    ['a wiped slot number is made again', { nodes: [node('n1'), node('n2')], volumes: [vol(1, 'n2')], held: [holder(1, 'n2')], instances: 2 }, { slot: 0, node: 'n1', create: ['data'] }],
    [
      'a persistent volume the template gained is created in the slot it lacks',
      { nodes: [node('n1')], volumes: [vol(0, 'n1')], persistent: [{ name: 'data', size: 100 }, { name: 'logs', size: 50 }] },
      { slot: 0, node: 'n1', create: ['logs'] },
    ],
    [
      'disk: the new slot asks for the sizes of its volumes, and other Volumes take the node',
      { nodes: [node('n1')], volumes: [vol(0, 'n1', { size: 950 })], held: [holder(0, 'n1')] },
      { message: '0/1 nodes fit: node n1: insufficient disk (wants 100 MiB, 950 of 1000 MiB allocated: ns/db 950)' },
    ],
    [
      "a free slot whose node is full keeps the task waiting there, with the node's reason",
      { nodes: [node('n1', { capacity: { cpus: 0.05, mem: 4096, disk: 1000, gpus: 0 } }), node('n2')], volumes: [vol(0, 'n1')] },
      { message: '0/1 nodes fit: node n1: insufficient cpus (wants 0.1, 0 of 0.05 allocated) (volume db-data-0 of slot 0 is on node n1)' },
    ],
  ])('%s', (_name, options, expected) => {
    expect(summary(place(options))).toEqual(expected);
  });
});
