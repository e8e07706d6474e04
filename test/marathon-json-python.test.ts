// thefactory's Python client (Debian's python3-marathon) reads Marathon JSON into classes whose
// constructors take a fixed list of fields: a field Marathon does not have, or a timestamp that is
// not one, fails the whole response. Here its models read what api/marathon writes for every field
// group (apps with Docker and Mesos containers, checks, volumes, tasks with health results, the last
// failure), and what its models write (`to_json`, what create_app and update_app send) is read back
// by appFromMarathon without a problem. No server: the JSON goes through a python3 subprocess.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { appKind } from '../api/kinds/app.ts';
import type { AnyObject } from '../api/object.ts';
import { appFromMarathon, appToMarathon } from '../api/marathon/app.ts';
import { taskToMarathon } from '../api/marathon/task.ts';

// Debian's package is installed for the system interpreter, not for a python3 a version manager may put first on PATH.
const PYTHON = '/usr/bin/python3';

function python(script: string, input: unknown): unknown {
  return JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(input), encoding: 'utf8' }));
}

/** Parses each app with MarathonApp.from_json and answers what the client then sees. */
const READ_APPS = `
import json, sys
from marathon.models import MarathonApp
out = []
for raw in json.load(sys.stdin):
    app = MarathonApp.from_json(raw)
    out.append({"id": app.id, "instances": app.instances, "container": app.container.type if app.container else None,
                "healthChecks": [h.protocol for h in app.health_checks], "ports": [p.port for p in app.port_definitions],
                "volumes": [v.container_path for v in (app.container.volumes if app.container else [])],
                "tasks": [{"id": t.id, "state": t.state, "startedAt": t.started_at.isoformat() if t.started_at else None,
                           "alive": [r.alive for r in t.health_check_results]} for t in app.tasks],
                "lastTaskFailure": app.last_task_failure.state if app.last_task_failure else None,
                "version": app.version})
print(json.dumps(out))
`;

function stored(json: unknown, status?: unknown): AnyObject {
  const { app, problems } = appFromMarathon(json);
  expect(problems).toEqual([]);
  return { ...app!, metadata: { ...app!.metadata, uid: 'u1', creationTimestamp: '2026-11-30T10:00:00.000Z' }, spec: appKind.spec.parse(app!.spec), ...(status ? { status } : {}) };
}

describe('python3-marathon reads what Capstan writes', () => {
  it('apps of every field group, with tasks, health results and the last failure', () => {
    const docker = stored(
      {
        id: '/shop/web',
        container: { type: 'DOCKER', docker: { image: 'local/web:1' }, volumes: [{ containerPath: '/srv', hostPath: '/var/srv', mode: 'RO' }] },
        portDefinitions: [{ port: 10004, name: 'http' }],
        healthChecks: [{ protocol: 'HTTP', path: '/' }, { protocol: 'MESOS_TCP' }, { protocol: 'COMMAND', command: { value: 'true' } }],
        readinessChecks: [{ portName: 'http' }],
        constraints: [['hostname', 'UNIQUE']],
        dependencies: ['/shop/db'],
        labels: { HAPROXY_GROUP: 'external' },
      },
      {
        running: 1,
        currentRevision: 1,
        rollout: { phase: 'Complete', revision: 1, startedAt: '2026-11-30T10:00:01.000Z', lastProgressAt: '2026-11-30T10:00:01.000Z' },
        lastTaskFailure: { task: 'web-1-x', revision: 1, phase: 'Failed', message: 'exit 1', timestamp: '2026-11-30T10:00:02.000Z' },
      },
    );
    const task = {
      apiVersion: 'capstan/v1',
      kind: 'Task',
      metadata: { name: 'web-1-y', namespace: 'shop', uid: 't1', creationTimestamp: '2026-11-30T10:00:03.000Z' },
      spec: { app: 'web', revision: 1, template: { healthChecks: [{}, {}, {}] }, nodeName: 'n1', hostPorts: [31000] },
      status: { phase: 'Running', startedAt: '2026-11-30T10:00:04.000Z', healthResults: [{ index: 0, alive: true, consecutiveFailures: 0, firstSuccess: '2026-11-30T10:00:05.000Z', lastSuccess: '2026-11-30T10:00:06.000Z' }] },
    };
    const pending = { ...task, metadata: { ...task.metadata, uid: 't2', creationTimestamp: undefined }, spec: { app: 'web', revision: 1, template: {} }, status: undefined };
    const resident = stored({ id: '/db', cmd: 'x', container: { type: 'MESOS', volumes: [{ containerPath: 'data', mode: 'RW', persistent: { size: 10 } }] }, unreachableStrategy: { inactiveAfterSeconds: 10, expungeAfterSeconds: 20 } });
    const apps = [appToMarathon(docker, { tasks: [task, pending] }), appToMarathon(resident, { tasks: [] })];
    expect(python(READ_APPS, apps)).toEqual([
      {
        id: '/shop/web',
        instances: 1,
        container: 'DOCKER',
        healthChecks: ['HTTP', 'MESOS_TCP', 'COMMAND'],
        ports: [10004],
        volumes: ['/srv'],
        tasks: [
          { id: 'shop_web.t1', state: 'TASK_RUNNING', startedAt: '2026-11-30T10:00:04+00:00', alive: [true] },
          { id: 'shop_web.t2', state: 'TASK_STAGING', startedAt: null, alive: [] },
        ],
        lastTaskFailure: 'TASK_FAILED',
        version: '2026-11-30T10:00:01.000Z',
      },
      { id: '/db', instances: 1, container: 'MESOS', healthChecks: [], ports: [0], volumes: ['data'], tasks: [], lastTaskFailure: null, version: '2026-11-30T10:00:00.000Z' },
    ]);
    // A task on its own, as GET /v2/tasks lists it.
    expect(python(`import json, sys\nfrom marathon.models import MarathonTask\nprint(json.dumps(MarathonTask.from_json(json.load(sys.stdin)).host))`, taskToMarathon(task, docker))).toBe('n1');
  });
});

describe('Capstan reads what python3-marathon writes', () => {
  it('an app built with its models, as create_app sends it', () => {
    const script = `
from marathon.models import MarathonApp, MarathonHealthCheck
from marathon.models.app import PortDefinition, MarathonUpgradeStrategy
from marathon.models.container import MarathonContainer, MarathonDockerContainer, MarathonContainerVolume
from marathon.models.constraint import MarathonConstraint
app = MarathonApp(id="/shop/web", cmd="httpd -p $PORT0", instances=2, cpus=0.1, mem=32, env={"A": "b"}, labels={"HAPROXY_GROUP": "external"},
    container=MarathonContainer(type="DOCKER", docker=MarathonDockerContainer(image="local/web:1", network="HOST"),
        volumes=[MarathonContainerVolume(container_path="/srv", host_path="/var/srv", mode="RO")]),
    port_definitions=[PortDefinition(port=10004, protocol="tcp", name="http")],
    health_checks=[MarathonHealthCheck(protocol="HTTP", path="/health", port_index=0, grace_period_seconds=5, interval_seconds=2, timeout_seconds=1, max_consecutive_failures=3)],
    constraints=[MarathonConstraint("hostname", "UNIQUE")], upgrade_strategy=MarathonUpgradeStrategy(minimum_health_capacity=0.5, maximum_over_capacity=0.5),
    backoff_seconds=2, task_kill_grace_period_seconds=5, dependencies=["/shop/db"])
print(app.to_json())
`;
    const json = python(script, null);
    const { app, problems } = appFromMarathon(json);
    expect(problems).toEqual([]);
    expect(app).toMatchObject({
      metadata: { namespace: 'shop', name: 'web', labels: { HAPROXY_GROUP: 'external' } },
      spec: {
        instances: 2,
        driver: 'docker',
        containers: [{ image: 'local/web:1', cmd: 'httpd -p $PORT0', env: { A: 'b' }, resources: { cpus: 0.1, mem: 32 }, volumeMounts: [{ mountPath: '/srv', readOnly: true }] }],
        ports: [{ name: 'http', servicePort: 10004 }],
        healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 5 }],
        constraints: [['hostname', 'UNIQUE']],
        dependencies: ['shop/db'],
        taskKillGracePeriodSeconds: 5,
      },
    });
  });
});
