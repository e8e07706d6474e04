import { describe, expect, it } from 'vitest';
import { appSpecSchema, templateOf } from '../../api/kinds/app.ts';
import type { AnyObject } from '../../api/object.ts';
import { isServing, planEndpoints, wantsServicePorts } from './plan.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const spec = (extra: Record<string, unknown> = {}) =>
  appSpecSchema.parse({ containers: [{ name: 'main', cmd: 'x' }], driver: 'process', ports: [{ name: 'http' }, { name: 'admin' }], ...extra });

const app = (extra: Record<string, unknown> = {}, labels: Record<string, string> = {}): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'App',
  metadata: { name: 'web', namespace: 'shop', uid: 'a1', labels },
  spec: spec(extra),
});

interface TaskOptions {
  phase?: string;
  healthy?: 'True' | 'False';
  ready?: 'True' | 'False';
  deleting?: boolean;
  node?: string;
  hostPorts?: number[];
  template?: Record<string, unknown>;
}

function task(name: string, options: TaskOptions = {}): AnyObject {
  const conditions = [
    ...(options.healthy ? [{ type: 'Healthy', status: options.healthy, lastTransitionTime: T0 }] : []),
    ...(options.ready ? [{ type: 'Ready', status: options.ready, lastTransitionTime: T0 }] : []),
  ];
  return {
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: { name, namespace: 'shop', ...(options.deleting ? { deletionTimestamp: T0 } : {}) },
    spec: { app: 'web', revision: 1, template: templateOf(spec(options.template)), nodeName: options.node ?? 'n1', hostPorts: options.hostPorts ?? [31001, 31002] },
    status: { phase: options.phase ?? 'Running', conditions },
  };
}

const httpCheck = { healthChecks: [{ protocol: 'HTTP', path: '/' }] };
const readiness = { readinessChecks: [{ portName: 'http', path: '/ready' }] };

describe('isServing', () => {
  it.each([
    { scenario: 'a Running task without checks', t: task('t1'), want: true },
    { scenario: 'a Staging task', t: task('t1', { phase: 'Staging' }), want: false },
    { scenario: 'a Running task being deleted (drain before kill)', t: task('t1', { deleting: true }), want: false },
    { scenario: 'health checks and no result yet', t: task('t1', { template: httpCheck }), want: false },
    { scenario: 'health checks passing', t: task('t1', { template: httpCheck, healthy: 'True' }), want: true },
    { scenario: 'health checks failing', t: task('t1', { template: httpCheck, healthy: 'False' }), want: false },
    { scenario: 'readiness not yet ready', t: task('t1', { template: readiness, ready: 'False' }), want: false },
    { scenario: 'healthy and ready', t: task('t1', { template: { ...httpCheck, ...readiness }, healthy: 'True', ready: 'True' }), want: true },
    { scenario: 'a Failed task (health kill)', t: task('t1', { phase: 'Failed' }), want: false },
  ])('$scenario: $want', ({ t, want }) => {
    expect(isServing(t)).toBe(want);
  });
});

describe('planEndpoints', () => {
  const addresses = { n1: '127.0.0.1', n2: '127.0.0.2' } as Record<string, string>;
  const plan = (tasks: AnyObject[], servicePorts: (number | undefined)[] = []) =>
    planEndpoints({ app: app(), tasks, nodeAddress: (n) => addresses[n], servicePorts });

  it('lists serving tasks per port with node address and host port, sorted by task', () => {
    const result = plan([task('t2', { node: 'n2', hostPorts: [32001, 32002] }), task('t1'), task('t3', { phase: 'Starting' })], [10000]);
    expect(result).toEqual({
      app: 'web',
      ports: [
        {
          name: 'http',
          index: 0,
          servicePort: 10000,
          protocol: 'tcp',
          addresses: [
            { address: '127.0.0.1', hostPort: 31001, task: 't1', node: 'n1' },
            { address: '127.0.0.2', hostPort: 32001, task: 't2', node: 'n2' },
          ],
        },
        {
          name: 'admin',
          index: 1,
          protocol: 'tcp',
          addresses: [
            { address: '127.0.0.1', hostPort: 31002, task: 't1', node: 'n1' },
            { address: '127.0.0.2', hostPort: 32002, task: 't2', node: 'n2' },
          ],
        },
      ],
    });
  });

  it('matches an older revision by port name when its ports moved', () => {
    const old = task('t1', { template: { ports: [{ name: 'admin' }, { name: 'http' }] }, hostPorts: [31009, 31008] });
    const [http, admin] = plan([old]).ports;
    expect(http!.addresses.map((a) => a.hostPort)).toEqual([31008]);
    expect(admin!.addresses.map((a) => a.hostPort)).toEqual([31009]);
  });

  it('leaves out a task on a node it cannot find, and one whose revision lacks the port', () => {
    const result = plan([task('t1', { node: 'gone' }), task('t2', { template: { ports: [{ name: 'http' }] }, hostPorts: [31001] })]);
    expect(result.ports.map((p) => p.addresses.map((a) => a.task))).toEqual([['t2'], []]);
  });
});

describe('wantsServicePorts', () => {
  it.each([
    { scenario: 'a plain App', a: app(), want: false },
    { scenario: 'loadBalancer set', a: app({ loadBalancer: {} }), want: true },
    { scenario: 'a marathon-lb label', a: app({}, { HAPROXY_GROUP: 'external' }), want: true },
    { scenario: 'an explicit servicePort', a: app({ ports: [{ servicePort: 10004 }] }), want: true },
  ])('$scenario: $want', ({ a, want }) => {
    expect(wantsServicePorts(a)).toBe(want);
  });
});
