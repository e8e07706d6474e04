import { describe, expect, it } from 'vitest';
import { TASK_PHASES } from '../kinds/task.ts';
import type { AnyObject } from '../object.ts';
import { MARATHON_ID_ANNOTATION } from './ids.ts';
import { taskToMarathon } from './task.ts';

const app: AnyObject = {
  apiVersion: 'capstan/v1',
  kind: 'App',
  metadata: { name: 'docker-registry', namespace: 'tools', uid: 'a1', annotations: { [MARATHON_ID_ANNOTATION]: '/tools/docker/registry' } },
  spec: { ports: [{ hostPort: 0, servicePort: 10004, protocol: 'tcp' }, { hostPort: 0, protocol: 'tcp' }] },
  status: { currentRevision: 2, rollout: { phase: 'Complete', revision: 2, startedAt: '2026-11-30T11:00:00.000Z', lastProgressAt: '2026-11-30T11:00:00.000Z' } },
};

function task(phase: string | undefined, extra: { deleting?: boolean; revision?: number; checks?: number; healthResults?: unknown[] } = {}): AnyObject {
  return {
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: { name: 'docker-registry-2-abcde', namespace: 'tools', uid: '9f0c', creationTimestamp: '2026-11-30T11:00:01.000Z', ...(extra.deleting ? { deletionTimestamp: '2026-11-30T12:00:00.000Z' } : {}) },
    spec: { app: 'docker-registry', revision: extra.revision ?? 2, template: { healthChecks: Array.from({ length: extra.checks ?? 0 }, () => ({ protocol: 'TCP' })) }, nodeName: 'node-1', hostPorts: [31000, 31001] },
    ...(phase ? { status: { phase, startedAt: '2026-11-30T11:00:03.000Z', ...(extra.healthResults ? { healthResults: extra.healthResults } : {}) } } : {}),
  };
}

const node: AnyObject = { apiVersion: 'capstan/v1', kind: 'Node', metadata: { name: 'node-1' }, spec: { address: '10.0.2.148' } };

describe('taskToMarathon', () => {
  it.each([
    [undefined, 'TASK_STAGING'],
    ['Pending', 'TASK_STAGING'],
    ['Staging', 'TASK_STAGING'],
    ['Starting', 'TASK_STARTING'],
    ['Running', 'TASK_RUNNING'],
    ['Finished', 'TASK_FINISHED'],
    ['Failed', 'TASK_FAILED'],
    ['Killing', 'TASK_KILLING'],
    ['Killed', 'TASK_KILLED'],
    ['Lost', 'TASK_UNREACHABLE'],
  ])('phase %s is %s', (phase, state) => {
    expect(taskToMarathon(task(phase), app).state).toBe(state);
  });

  it('maps every phase Capstan has', () => {
    expect(TASK_PHASES.map((phase) => taskToMarathon(task(phase), app).state)).not.toContain(undefined);
  });

  it('a running task being deleted is killing', () => {
    expect(taskToMarathon(task('Running', { deleting: true }), app).state).toBe('TASK_KILLING');
  });

  it('has Marathon\'s fields: id from the app id and uid, host the node\'s address, ports its host ports', () => {
    expect(taskToMarathon(task('Running'), app, node)).toEqual({
      id: 'tools_docker_registry.9f0c',
      appId: '/tools/docker/registry',
      host: '10.0.2.148',
      ports: [31000, 31001],
      servicePorts: [10004, 0],
      slaveId: 'node-1',
      state: 'TASK_RUNNING',
      stagedAt: '2026-11-30T11:00:01.000Z',
      startedAt: '2026-11-30T11:00:03.000Z',
      version: '2026-11-30T11:00:00.000Z',
      ipAddresses: [{ ipAddress: '10.0.2.148', protocol: 'IPv4' }],
      localVolumes: [],
    });
  });

  it('without its Node, host is the node name', () => {
    expect(taskToMarathon(task('Running'), app).host).toBe('node-1');
  });

  it('a task of an older revision runs the version it was made at', () => {
    expect(taskToMarathon(task('Running', { revision: 1 }), app).version).toBe('2026-11-30T11:00:01.000Z');
  });

  it('health check results, one per check, when the App has checks', () => {
    const results = [{ index: 0, alive: false, consecutiveFailures: 2, lastFailure: '2026-11-30T11:01:00.000Z', lastFailureCause: 'connection refused', firstSuccess: '2026-11-30T11:00:10.000Z' }];
    expect(taskToMarathon(task('Running', { checks: 1, healthResults: results }), app).healthCheckResults).toEqual([
      {
        alive: false,
        consecutiveFailures: 2,
        firstSuccess: '2026-11-30T11:00:10.000Z',
        lastFailure: '2026-11-30T11:01:00.000Z',
        lastSuccess: null,
        lastFailureCause: 'connection refused',
        instanceId: 'tools_docker_registry.9f0c',
      },
    ]);
    expect(taskToMarathon(task('Running'), app)).not.toHaveProperty('healthCheckResults');
  });
});
