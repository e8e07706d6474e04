import { describe, expect, it } from 'vitest';
import type { AnyObject } from '../api/object.ts';
import { appStateSection, containersSection, volumesSection } from './describe-app.ts';

const now = Date.parse('2026-01-01T00:01:00Z');
const app = (status?: Record<string, unknown>): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'App',
  metadata: { name: 'web', namespace: 'default' },
  spec: { instances: 2 },
  ...(status ? { status } : {}),
});
const failure = { task: 'web-1-abcde', revision: 1, node: 'n1', phase: 'Failed', exitCode: 3, message: 'exited with code 3', timestamp: '2026-01-01T00:00:55.000Z' };

describe('appStateSection: describe app, in Marathon words', () => {
  it.each<[string, AnyObject, string[]]>([
    ['no status yet', app(), ['<no status yet: is `capstan controllers` running?>']],
    ['running', app({ phase: 'Running', reason: 'InstancesRunning', running: 2, healthy: 2 }), ['Status:        Running (InstancesRunning)', 'Instances:     2 of 2 running, 2 healthy']],
    [
      'delayed, with the last failure and its output',
      app({
        phase: 'Delayed',
        reason: 'BackOff',
        message: 'revision 1: 2 task failure(s) in a row',
        running: 1,
        healthy: 1,
        launchDelay: { seconds: 4, until: '2026-01-01T00:01:03.000Z', failures: 2 },
        lastTaskFailure: { ...failure, outputTail: ['boom', 'bang'] },
      }),
      [
        'Status:        Delayed (BackOff)',
        'Launch delay:  4 s after 2 failure(s) in a row',
        'Delayed until: 2026-01-01T00:01:03.000Z (in 3 s)',
        'Task:     web-1-abcde, revision 1, node n1',
        'Ended:    Failed, exit code 3 at 2026-01-01T00:00:55.000Z (5s ago)',
        'Output (last 2 lines):\n      boom\n      bang',
      ],
    ],
    ['a failure without output, killed by a signal', app({ phase: 'Deploying', lastTaskFailure: { ...failure, exitCode: undefined, signal: 'SIGKILL' } }), ['Ended:    Failed, signal SIGKILL at', 'Output:   <none>']],
  ])('%s', (_name, object, expected) => {
    const { title, body } = appStateSection(object, now);
    expect(title).toBe('State');
    for (const text of expected) expect(body).toContain(text);
  });
});

const pod = (spec: Record<string, unknown>): AnyObject => ({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'db', namespace: 'default' }, spec: { driver: 'docker', instances: 2, ...spec } });
const mixed = pod({
  containers: [
    { name: 'web', image: 'local/busybox:1', cmd: 'httpd -f -p $PORT_HTTP -h /www', resources: { cpus: 0.1, mem: 32, disk: 0, gpus: 0 }, volumeMounts: [{ name: 'www', mountPath: '/www', readOnly: true }] },
    { name: 'fetch', cmd: 'wget -O - 127.0.0.1:$PORT_HTTP', resources: { cpus: 0.05, mem: 16, disk: 0, gpus: 0 }, volumeMounts: [{ name: 'www', mountPath: 'www', readOnly: false }] },
    { name: 'plain', image: 'local/busybox:1', resources: { cpus: 1, mem: 128, disk: 10, gpus: 1 }, volumeMounts: [] },
    { name: 'direct', args: ['/bin/echo', 'hi'], resources: { cpus: 1, mem: 128, disk: 0, gpus: 0 }, volumeMounts: [] },
  ],
  volumes: [{ name: 'www', ephemeral: {} }],
});

describe('containersSection: each container of the pod, under its own runtime', () => {
  it.each<[string, AnyObject, string[]]>([
    [
      'a mixed pod: an image runs under Docker, no image as a process',
      mixed,
      [
        '  web (docker)\n    Image:     local/busybox:1\n    Command:   httpd -f -p $PORT_HTTP -h /www\n    Resources: cpus 0.1, mem 32Mi, disk 0Mi\n    Mounts:    www → /www (ro)',
        '  fetch (process)\n    Command:   wget -O - 127.0.0.1:$PORT_HTTP',
        '    Mounts:    www → www\n',
        '  plain (docker)\n    Image:     local/busybox:1\n    Command:   <the image\'s own>\n    Resources: cpus 1, mem 128Mi, disk 10Mi, gpus 1\n    Mounts:    <none>',
        '  direct (process)\n    Args:      ["/bin/echo","hi"]',
      ],
    ],
    ['a multi-line command keeps its lines under the first', pod({ containers: [{ name: 'main', cmd: 'touch data/x\nexec sleep 1\n' }] }), ['    Command:   touch data/x\n               exec sleep 1\n    Resources:']],
    ['driver process runs an image-bearing container as a process too', pod({ driver: 'process', containers: [{ name: 'main', image: 'local/busybox:1', cmd: 'sleep 1' }] }), ['  main (process)', 'Resources: cpus 0, mem -, disk -']],
  ])('%s', (_name, object, expected) => {
    const { title, body } = containersSection(object);
    expect(title).toBe('Containers');
    for (const text of expected) expect(body).toContain(text);
  });
});

const volume = (slot: number, status?: Record<string, unknown>, deleting = false): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'Volume',
  metadata: { name: `db-data-${slot}`, namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z', ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:30Z' } : {}) },
  spec: { app: 'db', volume: 'data', slot, size: 64, nodeName: `n${slot}` },
  ...(status ? { status } : {}),
});
const resident = pod({ containers: [{ name: 'db', cmd: 'sleep 1', volumeMounts: [{ name: 'data', mountPath: 'data' }] }], volumes: [{ name: 'data', persistent: { size: 64 } }, { name: 'logs', hostPath: { path: '/var/log' } }] });

describe("volumesSection: the App's volumes and, per slot, where its data lives", () => {
  it.each<[string, AnyObject, AnyObject[], string[] | undefined]>([
    ['no volumes: no section', pod({ containers: [{ name: 'main', image: 'x' }] }), [], undefined],
    ['an ephemeral volume: declared, no slots', mixed, [], ['  www: ephemeral: a directory per instance']],
    [
      'a resident App not placed yet',
      resident,
      [],
      ['  data: persistent: 64Mi per instance slot', '  logs: hostPath: /var/log on the node', '  <none yet: each slot gets its volumes at its first placement>'],
    ],
    [
      'a resident App: one row per slot, bound, waiting for its node, being wiped',
      resident,
      [volume(0, { phase: 'Bound', task: 'db-1-abcde', usedMiB: 3.4 }), volume(1, { phase: 'Waiting', message: 'node n1 is not ready' }), volume(2, undefined, true)],
      [
        '  SLOT   VOLUME      NODE   SIZE   PHASE      USED   TASK         AGE   MESSAGE',
        '  0      db-data-0   n0     64Mi   Bound      3Mi    db-1-abcde   1m\n',
        '  1      db-data-1   n1     64Mi   Waiting    -      -            1m    node n1 is not ready',
        '  2      db-data-2   n2     64Mi   Deleting   -      -            1m',
      ],
    ],
    ['kept Volumes of an App whose spec no longer declares them', pod({ containers: [{ name: 'main', image: 'x' }] }), [volume(0, { phase: 'Reserved' })], ['  0      db-data-0   n0     64Mi   Reserved']],
  ])('%s', (_name, object, volumes, expected) => {
    const section = volumesSection(object, volumes, now);
    if (expected === undefined) return expect(section).toBeUndefined();
    expect(section?.title).toBe('Volumes');
    for (const text of expected) expect(section?.body).toContain(text);
  });
});
