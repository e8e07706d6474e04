import { describe, expect, it } from 'vitest';
import type { HealthCheck } from '../../api/kinds/app.ts';
import type { ExecResult } from '../driver.ts';
import { commandProbes, type ProbedTask } from './task-probes.ts';

const T0 = '2025-01-01T00:00:00.000Z';

function pod(healthChecks: Partial<HealthCheck>[]): ProbedTask {
  const check = { protocol: 'COMMAND', command: 'true', delaySeconds: 0, intervalSeconds: 10, timeoutSeconds: 2, gracePeriodSeconds: 0, maxConsecutiveFailures: 3 };
  const container = { env: {}, resources: { cpus: 0.1, mem: 32, disk: 0, gpus: 0 }, volumeMounts: [] };
  return {
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: { name: 'web-1', namespace: 'shop', uid: 'u1' },
    spec: {
      app: 'web',
      revision: 1,
      nodeName: 'n1',
      hostPorts: [],
      template: {
        driver: 'docker',
        containers: [
          { ...container, name: 'web', image: 'busybox' },
          { ...container, name: 'sidecar', cmd: 'sleep 1000' },
        ],
        ports: [],
        constraints: [],
        healthChecks: healthChecks.map((c) => ({ ...check, ...c })) as HealthCheck[],
        readinessChecks: [],
        volumes: [],
        taskKillGracePeriodSeconds: 3,
        drainTimeoutSeconds: 5,
        unreachableStrategy: { inactiveAfterSeconds: 5, expungeAfterSeconds: 30 },
      },
    },
    status: { phase: 'Running', startedAt: T0 },
  };
}

describe('commandProbes', () => {
  it.each([
    { scenario: 'a check naming no container runs in the first', checks: [{ command: 'a' }], want: ['a in web'] },
    { scenario: 'a check naming a container runs there', checks: [{ command: 'b', container: 'sidecar' }], want: ['b in sidecar'] },
    { scenario: 'each check in its own container', checks: [{ command: 'a' }, { command: 'b', container: 'sidecar' }], want: ['a in web', 'b in sidecar'] },
  ])('$scenario', async ({ checks, want }) => {
    const ran: string[] = [];
    const exec = async (command: string, _timeoutMs: number, container: string): Promise<ExecResult> => {
      ran.push(`${command} in ${container}`);
      return { status: 'exited', exitCode: 0, output: '' };
    };
    const plan = commandProbes(pod(checks), exec);
    for (const probe of plan!.probes) await probe.run(new AbortController().signal);
    expect(ran).toEqual(want);
  });
});
