import { describe, expect, it } from 'vitest';
import { appSpecSchema, type RolloutStatus } from '../kinds/app.ts';
import type { AnyObject, Condition } from '../object.ts';
import { deploymentIdOf } from './deployment-id.ts';
import { DEPLOYMENT_ANNOTATION, deploymentOf, deploymentStamp } from './deployments.ts';
import { appEvents, parentOf, stoppedEvents, taskEvents, type EventContext, type MarathonEvent } from './event-rules.ts';
import { MARATHON_ID_ANNOTATION } from './ids.ts';

const NOW = '2026-03-01T10:00:00.000Z';
const T0 = '2026-03-01T09:00:00.000Z';

interface AppOptions {
  generation?: number;
  labels?: Record<string, string>;
  rollout?: Partial<RolloutStatus> & { phase: RolloutStatus['phase'] };
  observed?: number;
  stable?: number;
  noStatus?: boolean;
  healthChecks?: boolean;
}

function app(options: AppOptions = {}): AnyObject {
  const generation = options.generation ?? 1;
  const spec = appSpecSchema.parse({
    instances: 2,
    driver: 'process',
    containers: [{ name: 'main', cmd: 'sleep 1000' }],
    ...(options.healthChecks ? { healthChecks: [{ protocol: 'TCP', portIndex: 0 }], ports: [{ name: 'http' }] } : {}),
  });
  return {
    apiVersion: 'capstan/v1',
    kind: 'App',
    metadata: {
      name: 'docker-registry',
      namespace: 'tools',
      uid: 'uid-app',
      generation,
      creationTimestamp: T0,
      labels: options.labels ?? {},
      annotations: { [MARATHON_ID_ANNOTATION]: '/tools/docker/registry' },
    },
    spec,
    ...(options.noStatus
      ? {}
      : {
          status: {
            observedGeneration: options.observed ?? generation,
            instances: 2,
            staged: 0,
            running: 2,
            healthy: 2,
            unhealthy: 0,
            ready: 2,
            currentRevision: generation,
            ...(options.stable !== undefined ? { stableRevision: options.stable } : {}),
            revisions: [{ revision: generation, instances: 2, running: 2, healthy: 2, ready: 2 }],
            rollout: { revision: generation, startedAt: T0, lastProgressAt: T0, ...(options.rollout ?? { phase: 'Progressing' }) },
            conditions: [],
          },
        }),
  };
}

const progressing = (generation = 1) => app({ generation, rollout: { phase: 'Progressing' } });
const complete = (generation = 1) => app({ generation, stable: generation, rollout: { phase: 'Complete', completedAt: T0 } });

interface TaskOptions {
  phase?: string;
  healthy?: Partial<Condition>;
  deleting?: boolean;
  message?: string;
}

function task(options: TaskOptions = {}): AnyObject {
  return {
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: { name: 'docker-registry-1-abcde', namespace: 'tools', uid: 'uid-task', generation: 1, creationTimestamp: T0 },
    spec: {
      app: 'docker-registry',
      revision: 1,
      template: templateOf(),
      nodeName: 'n1',
      hostPorts: [31000],
    },
    ...(options.phase
      ? {
          status: {
            phase: options.phase,
            ...(options.message ? { message: options.message } : {}),
            startedAt: T0,
            conditions: options.healthy ? [{ type: 'Healthy', status: 'Unknown', lastTransitionTime: T0, ...options.healthy }] : [],
          },
        }
      : {}),
  };
}

function templateOf(): Record<string, unknown> {
  const { driver, containers, ports, constraints, healthChecks, readinessChecks, volumes, taskKillGracePeriodSeconds, drainTimeoutSeconds, unreachableStrategy } = app({
    healthChecks: true,
  }).spec as Record<string, unknown>;
  return { driver, containers, ports, constraints, healthChecks, readinessChecks, volumes, taskKillGracePeriodSeconds, drainTimeoutSeconds, unreachableStrategy };
}

const node: AnyObject = {
  apiVersion: 'capstan/v1',
  kind: 'Node',
  metadata: { name: 'n1', generation: 1 },
  spec: { address: '127.0.0.1', attributes: { hostname: 'n1' }, capacity: { cpus: 2, mem: 1024, disk: 1024, gpus: 0 }, ports: { from: 31000, to: 31100 }, drivers: ['process'] },
};

function context(apps: AnyObject[] = [complete()], others: AnyObject[] = []): EventContext {
  return {
    timestamp: NOW,
    app: (namespace, name) => apps.find((a) => a.metadata.namespace === namespace && a.metadata.name === name),
    node: (name) => (name === 'n1' ? node : undefined),
    deploymentShared: (id) => others.some((other) => deploymentOf(other)?.id === id),
  };
}

const types = (events: MarathonEvent[]) => events.map((e) => e.eventType);
const GENERATION_1 = deploymentIdOf('uid-app', 1);
const GENERATION_2 = deploymentIdOf('uid-app', 2);
const STOP = deploymentIdOf('uid-app', 0);

describe('appEvents: an App change as Marathon events', () => {
  it.each([
    { scenario: 'created: its definition, its group, and its first deployment starts', before: undefined, after: app({ noStatus: true }), expected: ['api_post_event', 'group_change_success', 'deployment_info'] },
    { scenario: 'status written while the rollout goes on: nothing', before: progressing(), after: progressing(), expected: [] },
    { scenario: 'the rollout completes: its step and the deployment succeed', before: progressing(), after: complete(), expected: ['deployment_step_success', 'deployment_success'] },
    {
      scenario: 'a new generation after a completed rollout: definition, group, a new deployment',
      before: complete(1),
      after: app({ generation: 2, observed: 1, stable: 1, rollout: { phase: 'Complete', completedAt: T0 } }),
      expected: ['api_post_event', 'group_change_success', 'deployment_info'],
    },
    {
      scenario: 'a new generation during a rollout: the old deployment is superseded (failed), the new one starts',
      before: progressing(1),
      after: app({ generation: 2, observed: 1, rollout: { phase: 'Progressing' } }),
      expected: ['api_post_event', 'group_change_success', 'deployment_step_failure', 'deployment_failed', 'deployment_info'],
    },
    {
      scenario: 'labels changed (no generation): a definition change without a deployment',
      before: complete(),
      after: { ...complete(), metadata: { ...complete().metadata, labels: { HAPROXY_GROUP: 'external' } } },
      expected: ['api_post_event', 'group_change_success'],
    },
    {
      scenario: 'rolled back at this generation: the deployment failed',
      before: app({ stable: 0, rollout: { phase: 'Progressing' } }),
      after: app({ stable: 0, rollout: { phase: 'RolledBack', generation: 1 } }),
      expected: ['deployment_step_failure', 'deployment_failed'],
    },
    {
      scenario: "the rollback's template write: the given-up deployment is not told twice, the rollback's starts",
      before: app({ stable: 0, rollout: { phase: 'RolledBack', generation: 1 } }),
      after: app({ generation: 2, observed: 1, stable: 0, rollout: { phase: 'RolledBack', generation: 1 } }),
      expected: ['api_post_event', 'group_change_success', 'deployment_info'],
    },
    {
      scenario: 'the rollback settles: its own deployment succeeds',
      before: app({ generation: 2, stable: 0, rollout: { phase: 'RolledBack', generation: 1 } }),
      after: app({ generation: 2, stable: 0, rollout: { phase: 'RolledBack', generation: 1, completedAt: T0 } }),
      expected: ['deployment_step_success', 'deployment_success'],
    },
    { scenario: 'deleted when settled: terminated, group, its stop deployment starts', before: complete(), after: undefined, expected: ['app_terminated_event', 'group_change_success', 'deployment_info'] },
    {
      scenario: 'deleted during a rollout: that deployment fails, the stop deployment starts',
      before: progressing(),
      after: undefined,
      expected: ['app_terminated_event', 'group_change_success', 'deployment_step_failure', 'deployment_failed', 'deployment_info'],
    },
  ])('$scenario', ({ before, after, expected }) => {
    expect(types(appEvents({ ...(before ? { before } : {}), ...(after ? { after } : {}) }, context()))).toEqual(expected);
  });

  it('a pod (several containers) says so: pod_created_event, pod_deleted_event, and the plan holds it among pods', () => {
    const base = app({ noStatus: true });
    const spec = base.spec as { containers: { name: string }[] };
    const pod = { ...base, spec: { ...spec, containers: [...spec.containers, { ...spec.containers[0]!, name: 'sidecar' }] } };
    const created = appEvents({ after: pod }, context());
    expect(types(created)).toEqual(['pod_created_event', 'group_change_success', 'deployment_info']);
    expect(created[0]).toMatchObject({ uri: '/v2/pods/tools/docker/registry' });
    expect(created[2]).toMatchObject({ plan: { target: { apps: [], pods: [{ id: '/tools/docker/registry' }] } } });
    expect(types(appEvents({ before: pod }, context()))[0]).toBe('pod_deleted_event');
  });

  it("a group change's deployment starts with its first App and succeeds with its last", () => {
    const GROUP = 'group-deployment-1';
    const stamped = (object: AnyObject, name: string): AnyObject => ({
      ...object,
      metadata: { ...object.metadata, name, uid: `uid-${name}`, annotations: { ...object.metadata.annotations, [MARATHON_ID_ANNOTATION]: `/tools/${name}`, [DEPLOYMENT_ANNOTATION]: deploymentStamp(GROUP, 1) } },
    });
    const [db, web] = [stamped(progressing(), 'db'), stamped(progressing(), 'web')];
    // web is added while db's deployment (the same) is in progress: no second deployment_info.
    expect(types(appEvents({ after: web }, context(undefined, [db])))).toEqual(['api_post_event', 'group_change_success']);
    // db completes while web still deploys: not yet.
    expect(types(appEvents({ before: db, after: stamped(complete(), 'db') }, context(undefined, [web])))).toEqual([]);
    // web completes last: the group's deployment succeeded.
    const last = appEvents({ before: web, after: stamped(complete(), 'web') }, context());
    expect(types(last)).toEqual(['deployment_step_success', 'deployment_success']);
    expect(last[1]).toMatchObject({ id: GROUP });
  });

  it('names the App by its Marathon id, its group by the parent, and deployments by deploymentIdOf', () => {
    const events = appEvents({ after: app({ noStatus: true }) }, context());
    expect(events[0]).toMatchObject({ eventType: 'api_post_event', timestamp: NOW, clientIp: null, uri: '/v2/apps/tools/docker/registry' });
    expect((events[0]!['appDefinition'] as { id: string }).id).toBe('/tools/docker/registry');
    expect(events[1]).toMatchObject({ groupId: '/tools/docker' });
    expect(events[2]).toMatchObject({ plan: { id: GENERATION_1, target: { id: '/tools/docker' } }, currentStep: { actions: [{ action: 'StartApplication', app: '/tools/docker/registry' }] } });
  });

  it('a superseded deployment and the new one carry their own ids', () => {
    const events = appEvents({ before: progressing(1), after: app({ generation: 2, observed: 1, rollout: { phase: 'Progressing' } }) }, context());
    expect(events.find((e) => e.eventType === 'deployment_failed')).toMatchObject({ id: GENERATION_1 });
    expect(events.find((e) => e.eventType === 'deployment_info')).toMatchObject({ plan: { id: GENERATION_2 } });
  });

  it("a deletion's stop deployment has the id DELETE answered, and succeeds once its tasks are gone", () => {
    const started = appEvents({ before: complete() }, context());
    expect(started.at(-1)).toMatchObject({ eventType: 'deployment_info', plan: { id: STOP, target: { apps: [] } }, currentStep: { actions: [{ action: 'StopApplication' }] } });
    const stopped = stoppedEvents(complete(), context());
    expect(types(stopped)).toEqual(['deployment_step_success', 'deployment_success']);
    expect(stopped[1]).toMatchObject({ id: STOP });
  });
});

describe('taskEvents: a Task change as Marathon events', () => {
  it.each([
    { scenario: 'it starts running', before: task({ phase: 'Starting' }), after: task({ phase: 'Running' }), expected: ['status_update_event', 'instance_changed_event'] },
    { scenario: 'its status is rewritten with the same state', before: task({ phase: 'Running' }), after: task({ phase: 'Running', message: 'again' }), expected: [] },
    {
      scenario: 'its health checks pass',
      before: task({ phase: 'Running', healthy: { status: 'Unknown' } }),
      after: task({ phase: 'Running', healthy: { status: 'True', reason: 'HealthChecksPassing' } }),
      expected: ['health_status_changed_event'],
    },
    {
      scenario: 'the health controller kills it',
      before: task({ phase: 'Running', healthy: { status: 'True', reason: 'HealthChecksPassing' } }),
      after: task({ phase: 'Failed', healthy: { status: 'False', reason: 'KilledUnhealthy', message: 'killed after 3 consecutive failed health checks' } }),
      expected: ['status_update_event', 'instance_changed_event', 'health_status_changed_event', 'unhealthy_task_kill_event'],
    },
    { scenario: 'deleted while running: killed', before: task({ phase: 'Running' }), after: undefined, expected: ['status_update_event', 'instance_changed_event'] },
    { scenario: 'deleted after it failed: nothing more', before: task({ phase: 'Failed' }), after: undefined, expected: [] },
  ])('$scenario', ({ before, after, expected }) => {
    expect(types(taskEvents({ before, ...(after ? { after } : {}) }, context()))).toEqual(expected);
  });

  it("says the task's state, app, node and ports with Marathon's field names", () => {
    const [update, changed] = taskEvents({ before: task({ phase: 'Starting' }), after: task({ phase: 'Running' }) }, context());
    expect(update).toMatchObject({ eventType: 'status_update_event', timestamp: NOW, taskStatus: 'TASK_RUNNING', appId: '/tools/docker/registry', slaveId: expect.any(String), ports: [31000] });
    expect(String(update!['taskId'])).toMatch(/^tools_docker_registry\./);
    expect(changed).toMatchObject({ eventType: 'instance_changed_event', condition: 'Running', instanceId: update!['taskId'], runSpecId: '/tools/docker/registry' });
  });

  it('a killed task says TASK_KILLED; an unhealthy kill says why', () => {
    expect(taskEvents({ before: task({ phase: 'Running' }) }, context())[0]).toMatchObject({ taskStatus: 'TASK_KILLED' });
    const kill = taskEvents(
      { before: task({ phase: 'Running', healthy: { status: 'True' } }), after: task({ phase: 'Failed', healthy: { status: 'False', reason: 'KilledUnhealthy', message: 'too many failures' } }) },
      context(),
    ).find((e) => e.eventType === 'unhealthy_task_kill_event');
    expect(kill).toMatchObject({ appId: '/tools/docker/registry', reason: 'too many failures' });
  });

  it('a task whose App is unknown says nothing', () => {
    expect(taskEvents({ after: task({ phase: 'Running' }) }, context([]))).toEqual([]);
  });
});

describe('parentOf', () => {
  it.each([
    ['/web', '/'],
    ['/prod/web', '/prod'],
    ['/tools/docker/registry', '/tools/docker'],
  ])('%s → %s', (id, parent) => expect(parentOf(id)).toBe(parent));
});
