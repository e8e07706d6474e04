import { describe, expect, it } from 'vitest';
import type { TaskPhase } from '../../api/kinds/task.ts';
import { AGENT_FINALIZER } from '../../api/kinds/wellknown.ts';
import type { ContainerState } from '../driver.ts';
import { endOf, planAgent, planTask, type TaskObject, type Workload } from './plan.ts';
import { applyChange, launchFor, launchParts } from './status.ts';

const NODE = 'n1';
const T0 = '2025-01-01T00:00:00.000Z';

type Draining = 'True' | 'False';

function task(phase: TaskPhase, options: { deleting?: boolean; finalizer?: boolean; pid?: number; draining?: Draining; drainTimeoutSeconds?: number; ports?: boolean } = {}): TaskObject {
  return {
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: {
      name: 'web-1',
      namespace: 'shop',
      uid: 'u1',
      finalizers: options.finalizer === false ? [] : [AGENT_FINALIZER],
      ...(options.deleting ? { deletionTimestamp: T0 } : {}),
    },
    spec: {
      app: 'web',
      revision: 1,
      nodeName: NODE,
      hostPorts: [31001],
      template: {
        driver: 'process',
        containers: [{ name: 'main', cmd: 'httpd', env: {}, resources: { cpus: 0.1, mem: 32, disk: 0, gpus: 0 }, volumeMounts: [] }],
        ports: options.ports === false ? [] : [{ name: 'http', hostPort: 0, protocol: 'tcp' }],
        constraints: [],
        healthChecks: [],
        readinessChecks: [],
        volumes: [],
        taskKillGracePeriodSeconds: 3,
        drainTimeoutSeconds: options.drainTimeoutSeconds ?? 5,
        unreachableStrategy: { inactiveAfterSeconds: 5, expungeAfterSeconds: 30 },
      },
    },
    status: {
      phase,
      ...(options.pid
        ? { runtime: { driver: 'process', pid: options.pid }, containers: [{ name: 'main', runtime: 'process', state: 'Running', pid: options.pid, startedAt: T0 }] }
        : {}),
      ...(options.draining ? { conditions: [{ type: 'Draining', status: options.draining, reason: 'r', message: 'm', lastTransitionTime: T0 }] } : {}),
    },
  };
}

const running = (name = 'main', pid = 42): ContainerState => ({ name, state: 'running', pid, startedAt: T0 });
const exited = (outcome: 'succeeded' | 'failed' | 'stopped', code: number, name = 'main'): ContainerState => ({
  name,
  state: 'exited',
  pid: 42,
  startedAt: T0,
  exit: { exitCode: code, signal: null, outcome, reason: `exited with code ${code}`, finishedAt: T0 },
});
const part = (driver: 'process' | 'docker', containers: ContainerState[]) => ({
  driver,
  running: { taskUid: 'u1', taskName: 'web-1', namespace: 'shop', app: 'web', containers },
});
const workload = (...containers: ContainerState[]): Workload => ({ parts: [part('process', containers)] });

const kinds = (actions: ReturnType<typeof planTask>) =>
  actions.map((a) => (a.type === 'report' ? `report ${a.change.phase}` : a.type === 'stop' || a.type === 'remove' ? `${a.type} (${a.reason})` : a.type));

describe('planTask', () => {
  it.each([
    { scenario: 'a pending task with nothing running is started', t: task('Pending'), w: undefined, want: ['start'] },
    { scenario: 'a start the agent did not finish is started again (idempotent per uid)', t: task('Staging'), w: undefined, want: ['start'] },
    { scenario: 'a started workload is reported Running', t: task('Starting'), w: workload(running()), want: ['report Running'] },
    { scenario: 'an adopted workload already reported is left alone', t: task('Running', { pid: 42 }), w: workload(running()), want: [] },
    { scenario: 'a Running task reported before per-container status gets it once', t: task('Running'), w: workload(running()), want: ['report Running'] },
    { scenario: 'a Running task whose workload vanished fails', t: task('Running', { pid: 42 }), w: undefined, want: ['report Failed'] },
    { scenario: 'exit 0 finishes', t: task('Running', { pid: 42 }), w: workload(exited('succeeded', 0)), want: ['report Finished'] },
    { scenario: 'a non-zero exit fails', t: task('Running', { pid: 42 }), w: workload(exited('failed', 1)), want: ['report Failed'] },
    {
      scenario: 'a pod with one failed container fails and stops the rest',
      t: task('Running', { pid: 42 }),
      w: workload(running('a'), exited('failed', 1, 'b')),
      want: ['report Failed', 'stop (pod-failed)'],
    },
    { scenario: 'a deleted running task with ports is drained first', t: task('Running', { deleting: true }), w: workload(running()), want: ['drain'] },
    { scenario: 'a drain under way is resumed (after an agent restart)', t: task('Running', { deleting: true, draining: 'True' }), w: workload(running()), want: ['drain'] },
    { scenario: 'a drained task is Killing and stopped', t: task('Running', { deleting: true, draining: 'False' }), w: workload(running()), want: ['report Killing', 'stop (deleting)'] },
    { scenario: 'a deleted task without ports is not drained', t: task('Running', { deleting: true, ports: false }), w: workload(running()), want: ['report Killing', 'stop (deleting)'] },
    { scenario: 'drainTimeoutSeconds 0 stops at once', t: task('Running', { deleting: true, drainTimeoutSeconds: 0 }), w: workload(running()), want: ['report Killing', 'stop (deleting)'] },
    { scenario: 'a task deleted while Starting was never routed to: no drain', t: task('Starting', { deleting: true }), w: workload(running()), want: ['report Killing', 'stop (deleting)'] },
    {
      scenario: 'a deleted task whose workload stopped is Killed, cleaned and released',
      t: task('Killing', { deleting: true }),
      w: workload(exited('stopped', 143)),
      want: ['report Killed', 'remove (deleting)', 'release'],
    },
    { scenario: 'a deleted terminal task keeps its phase, is cleaned and released', t: task('Failed', { deleting: true }), w: workload(exited('failed', 1)), want: ['remove (deleting)', 'release'] },
    { scenario: 'a deleted pending task is Killed and released', t: task('Pending', { deleting: true }), w: undefined, want: ['report Killed', 'release'] },
    { scenario: 'another finalizer keeps the object: nothing to release', t: task('Failed', { deleting: true, finalizer: false }), w: undefined, want: [] },
    { scenario: 'a terminal task keeps its remains (logs) until deleted', t: task('Failed'), w: workload(exited('failed', 1)), want: [] },
    { scenario: 'a stale workload of a terminal task is stopped', t: task('Finished'), w: workload(running()), want: ['stop (stale)'] },
    { scenario: 'a Lost task still running here is stopped and released', t: task('Lost'), w: workload(running()), want: ['stop (lost)', 'release'] },
    { scenario: 'a workload of a task gone from the store is removed', t: undefined, w: workload(running()), want: ['remove (orphan)'] },
  ])('$scenario', ({ t, w, want }) => {
    expect(kinds(planTask(t, w, NODE))).toEqual(want);
  });
});

/** A pod of a Docker container `web` and a process container `fetch`. */
function pod(phase: TaskPhase): TaskObject {
  const base = task(phase);
  const container = base.spec.template.containers[0]!;
  const containers = [
    { ...container, name: 'web', image: 'busybox' },
    { ...container, name: 'fetch' },
  ];
  return { ...base, spec: { ...base.spec, template: { ...base.spec.template, driver: 'docker', containers } } };
}

const mixed = (web: ContainerState, fetch?: ContainerState): Workload => ({
  parts: [part('docker', [web]), ...(fetch ? [part('process', [fetch])] : [])],
});

describe('planTask of a pod mixing runtimes', () => {
  it.each([
    { scenario: 'both parts running: Running', t: pod('Starting'), w: mixed(running('web', 7), running('fetch', 8)), want: ['report Running'] },
    { scenario: 'one part only, not yet Running: start again (idempotent per driver)', t: pod('Starting'), w: mixed(running('web', 7)), want: ['start'] },
    { scenario: 'one part gone from a Running pod: fails as a whole, the rest stopped', t: pod('Running'), w: mixed(running('web', 7)), want: ['report Failed', 'stop (pod-failed)'] },
    { scenario: 'one container failed: the pod fails, both drivers stop', t: pod('Running'), w: mixed(running('web', 7), exited('failed', 1, 'fetch')), want: ['report Failed', 'stop (pod-failed)'] },
  ])('$scenario', ({ t, w, want }) => {
    expect(kinds(planTask(t, w, NODE))).toEqual(want);
  });

  it('stops and removes every driver holding a part', () => {
    const [stop] = planTask(pod('Finished'), mixed(running('web', 7), running('fetch', 8)), NODE);
    expect(stop).toMatchObject({ type: 'stop', drivers: ['docker', 'process'] });
    const [remove] = planTask(undefined, mixed(running('web', 7), running('fetch', 8)), NODE);
    expect(remove).toMatchObject({ type: 'remove', drivers: ['docker', 'process'] });
  });

  it('reports each container with its runtime and state, the first container\'s runtime as status.runtime', () => {
    const [report] = planTask(pod('Starting'), mixed(running('web', 7), running('fetch', 8)), NODE);
    expect(report).toMatchObject({
      change: {
        phase: 'Running',
        runtime: { driver: 'docker', pid: 7 },
        containers: [
          { name: 'web', runtime: 'docker', state: 'Running', pid: 7, startedAt: T0 },
          { name: 'fetch', runtime: 'process', state: 'Running', pid: 8, startedAt: T0 },
        ],
      },
    });
  });

  it('a failed pod says how each container ended', () => {
    const [report] = planTask(pod('Running'), mixed(running('web', 7), exited('failed', 3, 'fetch')), NODE);
    expect(report).toMatchObject({
      change: {
        phase: 'Failed',
        containers: [
          { name: 'web', state: 'Running' },
          { name: 'fetch', runtime: 'process', state: 'Exited', exitCode: 3, reason: 'Error', finishedAt: T0 },
        ],
      },
    });
  });

  it('a Running pod whose container states changed is reported again', () => {
    const containers = [
      { name: 'web', runtime: 'docker' as const, state: 'Running' as const, pid: 7, startedAt: T0 },
      { name: 'fetch', runtime: 'process' as const, state: 'Running' as const, pid: 8, startedAt: T0 },
    ];
    const reported = { ...pod('Running'), status: { phase: 'Running' as const, runtime: { driver: 'docker' as const, pid: 7 }, containers } };
    expect(kinds(planTask(reported, mixed(running('web', 7), running('fetch', 8)), NODE))).toEqual([]);
    expect(kinds(planTask(reported, mixed(running('web', 7), exited('succeeded', 0, 'fetch')), NODE))).toEqual(['report Running']);
  });
});

describe('launchParts', () => {
  it('splits a pod by runtime, each part with the task\'s uid and ports', () => {
    const launch = launchFor(pod('Pending'), '127.0.0.1');
    if (typeof launch === 'string') throw new Error(launch);
    const parts = launchParts(pod('Pending'), launch);
    expect(parts.map((p) => [p.driver, p.launch.containers.map((c) => c.name), p.launch.taskUid, p.launch.ports])).toEqual([
      ['docker', ['web'], 'u1', [{ name: 'http', hostPort: 31001 }]],
      ['process', ['fetch'], 'u1', [{ name: 'http', hostPort: 31001 }]],
    ]);
  });

  it('mounts each volume a container names at its directory on the node', () => {
    const base = pod('Pending');
    const [web, fetch] = base.spec.template.containers;
    const containers = [
      { ...web!, volumeMounts: [{ name: 'shared', mountPath: '/data', readOnly: false }] },
      { ...fetch!, volumeMounts: [{ name: 'shared', mountPath: 'data', readOnly: true }] },
    ];
    const t = { ...base, spec: { ...base.spec, template: { ...base.spec.template, containers, volumes: [{ name: 'shared', ephemeral: {} }] } } };
    const launch = launchFor(t, '127.0.0.1', new Map([['shared', '/var/lib/x/shared']]));
    if (typeof launch === 'string') throw new Error(launch);
    expect(launch.containers.map((c) => c.mounts)).toEqual([
      [{ hostPath: '/var/lib/x/shared', mountPath: '/data', readOnly: false }],
      [{ hostPath: '/var/lib/x/shared', mountPath: 'data', readOnly: true }],
    ]);
    expect(launchFor(t, '127.0.0.1')).toBe('container web mounts volume shared, which the template does not define or the node has no directory for yet');
  });
});

describe('planAgent', () => {
  it('plans tasks bound here and workloads held here, by uid', () => {
    const other = workload(running());
    const plans = planAgent({ nodeName: NODE, tasks: [task('Pending')], workloads: new Map([['u2', other]]) });
    expect(plans.map((p) => [p.uid, kinds(p.actions)])).toEqual([
      ['u1', ['start']],
      ['u2', ['remove (orphan)']],
    ]);
  });
});

describe('applyChange', () => {
  it.each(['Finished', 'Failed', 'Killed', 'Lost'] as const)('never changes a terminal phase (%s)', (phase) => {
    expect(applyChange({ phase }, { phase: 'Running', startedAt: T0, runtime: { driver: 'process' } }, { nodeName: NODE })).toBeUndefined();
  });

  it('stages with the Scheduled condition, once', () => {
    const staged = applyChange({ phase: 'Pending' }, { phase: 'Staging' }, { nodeName: NODE, now: new Date(T0) });
    expect(staged?.conditions).toEqual([{ type: 'Scheduled', status: 'True', reason: 'Bound', message: 'bound to node n1', lastTransitionTime: T0 }]);
    expect(applyChange(staged, { phase: 'Staging' }, { nodeName: NODE })).toBeUndefined();
  });

  it('drops the scheduler\'s old reason once the task is staged', () => {
    const unschedulable = {
      phase: 'Pending' as const,
      message: '0/1 nodes fit: 1 node not ready',
      conditions: [{ type: 'Scheduled', status: 'False' as const, reason: 'Unschedulable', message: '0/1 nodes fit: 1 node not ready', lastTransitionTime: T0 }],
    };
    const staged = applyChange(unschedulable, { phase: 'Staging' }, { nodeName: NODE, now: new Date(T0) });
    expect(staged).toEqual({ phase: 'Staging', conditions: [{ type: 'Scheduled', status: 'True', reason: 'Bound', message: 'bound to node n1', lastTransitionTime: T0 }] });
    expect(applyChange({ phase: 'Starting', message: 'stale' }, { phase: 'Running', startedAt: T0, runtime: { driver: 'process' } }, { nodeName: NODE })?.message).toBeUndefined();
  });

  it('records an exit with its code and message', () => {
    expect(applyChange({ phase: 'Running' }, { phase: 'Failed', exitCode: 3, message: 'exited with code 3', finishedAt: T0 }, { nodeName: NODE })).toEqual({
      phase: 'Failed',
      exitCode: 3,
      message: 'exited with code 3',
      finishedAt: T0,
    });
  });
});

describe('launchFor', () => {
  it('gives each template port its bound host port, in order', () => {
    const launch = launchFor(task('Pending'), '127.0.0.1');
    expect(launch).toMatchObject({ taskUid: 'u1', host: '127.0.0.1', ports: [{ name: 'http', hostPort: 31001 }], killGracePeriodSeconds: 3 });
  });

  it('refuses a binding with the wrong number of host ports', () => {
    const unbound = { ...task('Pending'), spec: { ...task('Pending').spec, hostPorts: [] } };
    expect(launchFor(unbound, '127.0.0.1')).toBe('the template has 1 port(s) but the binding has 0 host port(s)');
  });
});

describe('the end of a task, for lastTaskFailure', () => {
  it.each<[string, ContainerState[], object]>([
    ['a failed container is named, for its output', [running('a'), exited('failed', 3, 'b')], { phase: 'Failed', exitCode: 3, container: 'b' }],
    ['a signal is kept', [{ name: 'main', state: 'exited', startedAt: T0, exit: { exitCode: 137, signal: 'SIGKILL', outcome: 'failed', reason: 'killed by SIGKILL', finishedAt: T0 } }], { phase: 'Failed', signal: 'SIGKILL' }],
    ['a finished task names its container too', [exited('succeeded', 0)], { phase: 'Finished', exitCode: 0, container: 'main' }],
  ])('%s', (_name, containers, expected) => {
    expect(endOf(workload(...containers), false)).toMatchObject(expected);
  });

  it('writes the signal and the output tail, and not the container', () => {
    const change = { phase: 'Failed' as const, exitCode: 3, signal: 'SIGSEGV', message: 'killed by SIGSEGV', finishedAt: T0, container: 'main', outputTail: ['boom'] };
    expect(applyChange({ phase: 'Running' }, change, { nodeName: NODE })).toEqual({ phase: 'Failed', exitCode: 3, signal: 'SIGSEGV', message: 'killed by SIGSEGV', finishedAt: T0, outputTail: ['boom'] });
  });
});
