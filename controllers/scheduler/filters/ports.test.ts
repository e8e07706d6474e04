import { describe, expect, it } from 'vitest';
import { Snapshot, type NodeView, type TaskDemand } from '../snapshot.ts';
import { choosePorts, portsFree } from './ports.ts';

const node: NodeView = {
  name: 'n1',
  attributes: { hostname: 'n1' },
  capacity: { cpus: 4, mem: 4096, disk: 0, gpus: 0 },
  portRange: { from: 31000, to: 31003 },
  drivers: ['process'],
  ready: true,
  unschedulable: false,
};

const demand = (ports: number[]): TaskDemand => ({ key: 'ns/t', app: 'ns/a', driver: 'process', resources: { cpus: 0, mem: 0, disk: 0, gpus: 0 }, ports, constraints: [] });

const snapshotWith = (taken: number[]) => new Snapshot([node], taken.length ? [{ app: 'ns/other', node: 'n1', resources: { cpus: 0, mem: 0, disk: 0, gpus: 0 }, hostPorts: taken }] : []);

describe('portsFree agrees with choosePorts without choosing', () => {
  it.each([
    { taken: [], ports: [0], expected: null },
    { taken: [], ports: [0, 0, 0, 0], expected: null },
    { taken: [], ports: [0, 0, 0, 0, 0], expected: 'no free ports' },
    { taken: [31000, 31002], ports: [0, 0], expected: null },
    { taken: [31000, 31002], ports: [0, 0, 0], expected: 'no free ports' },
    { taken: [31001], ports: [31001], expected: 'port 31001 in use' },
    { taken: [], ports: [8080, 8080], expected: 'port 8080 in use' },
    { taken: [9000], ports: [8080, 0], expected: null },
    // A fixed port inside the range leaves one fewer for the 0s.
    { taken: [31000], ports: [31001, 0, 0], expected: null },
    { taken: [31000], ports: [31001, 0, 0, 0], expected: 'no free ports' },
  ])('taken $taken, asking $ports → $expected', ({ taken, ports, expected }) => {
    const snapshot = snapshotWith(taken);
    expect(portsFree(demand(ports), node, snapshot)).toBe(expected);
    const chosen = choosePorts(demand(ports), node, snapshot);
    expect(typeof chosen === 'string' ? chosen : null).toBe(expected);
  });
});
