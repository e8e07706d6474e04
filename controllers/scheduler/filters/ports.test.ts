import { describe, expect, it } from 'vitest';
import { Snapshot, type NodeView, type TaskDemand } from '../snapshot.ts';
import { choosePorts, portsFree } from './ports.ts';

const nodeWith = (outside: number[]): NodeView => ({
  name: 'n1',
  attributes: { hostname: 'n1' },
  capacity: { cpus: 4, mem: 4096, disk: 0, gpus: 0 },
  portRange: { from: 31000, to: 31003 },
  ...(outside.length ? { portsInUse: new Set(outside) } : {}),
  drivers: ['process'],
  ready: true,
  unschedulable: false,
});

const demand = (ports: number[]): TaskDemand => ({ key: 'ns/t', app: 'ns/a', revision: 1, runtimes: ['process'], resources: { cpus: 0, mem: 0, disk: 0, gpus: 0 }, ports, constraints: [] });

const snapshotWith = (node: NodeView, taken: number[]) =>
  new Snapshot([node], taken.length ? [{ app: 'ns/other', revision: 1, node: 'n1', resources: { cpus: 0, mem: 0, disk: 0, gpus: 0 }, hostPorts: taken }] : []);

describe('portsFree agrees with choosePorts without choosing', () => {
  it.each([
    { taken: [], outside: [], ports: [0], expected: null },
    { taken: [], outside: [], ports: [0, 0, 0, 0], expected: null },
    { taken: [], outside: [], ports: [0, 0, 0, 0, 0], expected: 'no free ports' },
    { taken: [31000, 31002], outside: [], ports: [0, 0], expected: null },
    { taken: [31000, 31002], outside: [], ports: [0, 0, 0], expected: 'no free ports' },
    { taken: [31001], outside: [], ports: [31001], expected: 'port 31001 in use' },
    { taken: [], outside: [], ports: [8080, 8080], expected: 'port 8080 in use' },
    { taken: [9000], outside: [], ports: [8080, 0], expected: null },
    // A fixed port inside the range leaves one fewer for the 0s.
    { taken: [31000], outside: [], ports: [31001, 0, 0], expected: null },
    { taken: [31000], outside: [], ports: [31001, 0, 0, 0], expected: 'no free ports' },
    // Ports held outside Capstan are handed to no task, fixed or dynamic.
    { taken: [], outside: [31000], ports: [31000], expected: 'port 31000 in use outside Capstan' },
    { taken: [], outside: [31000], ports: [0, 0, 0], expected: null },
    { taken: [], outside: [31000], ports: [0, 0, 0, 0], expected: 'no free ports' },
    { taken: [31001], outside: [31000], ports: [0, 0], expected: null },
    { taken: [31001], outside: [31000], ports: [0, 0, 0], expected: 'no free ports' },
    // A port both a bound task and an outside process hold counts once.
    { taken: [31000], outside: [31000], ports: [0, 0, 0], expected: null },
    // Outside the range it matters only to a fixed port that asks for it.
    { taken: [], outside: [2379], ports: [0, 0, 0, 0], expected: null },
    { taken: [], outside: [2379], ports: [2379], expected: 'port 2379 in use outside Capstan' },
  ])('taken $taken, outside $outside, asking $ports → $expected', ({ taken, outside, ports, expected }) => {
    const node = nodeWith(outside);
    const snapshot = snapshotWith(node, taken);
    expect(portsFree(demand(ports), node, snapshot)).toBe(expected);
    const chosen = choosePorts(demand(ports), node, snapshot);
    expect(typeof chosen === 'string' ? chosen : null).toBe(expected);
  });
});

describe('choosePorts skips ports held outside Capstan', () => {
  it.each([
    { taken: [], outside: [31000], ports: [0], expected: [31001] },
    { taken: [31001], outside: [31000, 31002], ports: [0], expected: [31003] },
    { taken: [], outside: [31001], ports: [0, 0], expected: [31000, 31002] },
    { taken: [], outside: [31001], ports: [31000, 0], expected: [31000, 31002] },
  ])('taken $taken, outside $outside, asking $ports → $expected', ({ taken, outside, ports, expected }) => {
    const node = nodeWith(outside);
    expect(choosePorts(demand(ports), node, snapshotWith(node, taken))).toEqual(expected);
  });
});
