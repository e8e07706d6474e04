import { describe, expect, it } from 'vitest';
import { describeExit, outputTail, taskEnvironment, taskOutcome, type ContainerState, type TaskLaunch } from './driver.ts';

const resources = { cpus: 0.1, mem: 32, disk: 0, gpus: 0 };

describe('taskEnvironment', () => {
  const launch: TaskLaunch = {
    taskUid: 'uid-1',
    taskName: 'web-1',
    namespace: 'shop',
    app: 'web',
    containers: [{ name: 'main', env: { PORT0: '1', SHARED: 'container' }, resources }],
    ports: [{ name: 'http-alt', hostPort: 31000 }, { hostPort: 31001 }],
    host: '127.0.0.1',
    env: { SHARED: 'app', ONLY_APP: 'yes' },
    killGracePeriodSeconds: 3,
  };

  it.each([
    ['PORT0', '31000'],
    ['PORT1', '31001'],
    ['PORT', '31000'],
    ['PORTS', '31000,31001'],
    ['PORT_HTTP_ALT', '31000'],
    ['EP_HOST_HTTP_ALT', '127.0.0.1'], // Marathon's endpoint address: every container of the task reaches it there
    ['HOST', '127.0.0.1'],
    ['CAPSTAN_TASK_ID', 'uid-1'],
    ['CAPSTAN_TASK_NAME', 'web-1'],
    ['CAPSTAN_APP', 'web'],
    ['CAPSTAN_NAMESPACE', 'shop'],
    ['CAPSTAN_CONTAINER', 'main'],
    ['ONLY_APP', 'yes'],
    ['SHARED', 'container'], // the container's env overrides the App's
  ])('sets %s to %s (allocated ports win over the manifest)', (name, value) => {
    expect(taskEnvironment(launch, launch.containers[0]!)[name]).toBe(value);
  });

  it('names only named ports, and sets no sandbox (that is the process driver\'s)', () => {
    const names = Object.keys(taskEnvironment(launch, launch.containers[0]!));
    expect(names.filter((name) => name.startsWith('EP_HOST_'))).toEqual(['EP_HOST_HTTP_ALT']);
    expect(names).not.toContain('MESOS_SANDBOX');
  });

  it('sets no PORT when the task has no ports', () => {
    const env = taskEnvironment({ ...launch, ports: [] }, launch.containers[0]!);
    expect(env.PORT).toBeUndefined();
    expect(env.PORTS).toBe('');
  });
});

describe('describeExit', () => {
  it.each([
    [0, false, undefined, { exitCode: 0, signal: null, outcome: 'succeeded', reason: 'exited with code 0' }],
    [1, false, undefined, { exitCode: 1, signal: null, outcome: 'failed', reason: 'exited with code 1' }],
    [137, false, undefined, { signal: 'SIGKILL', outcome: 'failed', reason: 'killed by SIGKILL' }],
    [143, true, undefined, { signal: 'SIGTERM', outcome: 'stopped', reason: 'killed by SIGTERM (stopped)' }],
    [null, true, 'SIGKILL', { exitCode: null, signal: 'SIGKILL', outcome: 'stopped' }],
    [null, false, undefined, { exitCode: null, signal: null, outcome: 'failed', reason: 'exited with an unknown status' }],
  ] as const)('reads exit code %s (stop requested: %s, signal %s)', (code, stopRequested, signal, expected) => {
    expect(describeExit(code, { stopRequested, signal })).toMatchObject(expected);
  });

  it('names an out-of-memory kill', () => {
    expect(describeExit(137, { stopRequested: false, oomKilled: true }).reason).toBe('killed by SIGKILL (out of memory)');
  });
});

describe('taskOutcome', () => {
  const running: ContainerState = { name: 'a', state: 'running', startedAt: '' };
  const exited = (outcome: 'succeeded' | 'failed' | 'stopped'): ContainerState => ({
    name: 'b',
    state: 'exited',
    startedAt: '',
    exit: { exitCode: 0, signal: null, outcome, reason: '', finishedAt: '' },
  });

  it.each([
    ['one running container', [running], 'running'],
    ['a pod with one failed container and one running', [running, exited('failed')], 'failed'],
    ['a pod with one succeeded container and one running', [running, exited('succeeded')], 'running'],
    ['all succeeded', [exited('succeeded'), exited('succeeded')], 'succeeded'],
    ['one stopped, one succeeded', [exited('stopped'), exited('succeeded')], 'stopped'],
    ['nothing yet', [], 'running'],
  ] as const)('%s → %s', (_, containers, expected) => {
    expect(taskOutcome(containers)).toBe(expected);
  });
});

describe('outputTail', () => {
  const limits = { lines: 3, bytes: 20 };
  it.each<[string, string, string[]]>([
    ['nothing', '', []],
    ['one line without a newline', 'boom', ['boom']],
    ['the last lines, newest last, trailing newlines dropped', 'a\nb\nc\nd\n\n', ['b', 'c', 'd']],
    ['CRLF read as LF', 'a\r\nb\r\n', ['a', 'b']],
    ['older lines dropped to stay within the bytes', '0123456789\nabcdefghi\nxyz\n', ['abcdefghi', 'xyz']],
    ['a newest line over the budget keeps its end', `${'x'.repeat(30)}end\n`, [`${'x'.repeat(16)}end`]],
  ])('%s', (_name, text, expected) => {
    expect(outputTail(text, limits)).toEqual(expected);
  });
});
