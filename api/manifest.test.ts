import { describe, expect, it } from 'vitest';
import { builtinRegistry } from './kinds/builtin.ts';
import type { StoreReader } from './kinds/registry.ts';
import { formatProblem, parseManifests, validateDocuments } from './manifest.ts';
import type { AnyObject } from './object.ts';

/** Parses and validates `text` as one apply; returns the objects and the formatted problems. */
async function validate(text: string, store?: StoreReader) {
  const parsed = parseManifests(text, 'web.yaml');
  const validation = await validateDocuments(parsed.documents, builtinRegistry(), store ? { store } : {});
  return { objects: validation.objects, problems: [...parsed.problems, ...validation.problems].map(formatProblem) };
}

const minimal = (spec: string, metadata = '{name: web}') => `apiVersion: capstan/v1
kind: App
metadata: ${metadata}
spec:
${spec}`;

const FULL_APP = `apiVersion: capstan/v1
kind: App
metadata: {name: web, namespace: shop, labels: {tier: front}}
spec:
  instances: 3                      # default 1
  driver: docker                    # docker (default) | process  (Marathon's DOCKER | MESOS containers)
  containers:                       # one = a Marathon app; several = a pod sharing network and volumes
    - name: main
      image: local/busybox:1        # docker only
      cmd: "httpd -f -p $PORT0"     # run by /bin/sh -c; or args: [...] (exactly one of cmd/args for process)
      env: {GREETING: hello}
      resources: {cpus: 0.1, mem: 64, disk: 0, gpus: 0}
      volumeMounts: [{name: data, mountPath: /data}]
  ports:                            # host networking: the task sees PORT0.., PORT_<NAME>
    - {name: http, hostPort: 0, servicePort: 10004, protocol: tcp}   # hostPort 0 = any free port of the node
  constraints: [[hostname, UNIQUE], [rack, GROUP_BY, "3"], [zone, LIKE, "eu-.*"]]
  healthChecks:
    - {protocol: HTTP, portIndex: 0, path: /, gracePeriodSeconds: 5, intervalSeconds: 2,
       timeoutSeconds: 1, maxConsecutiveFailures: 3}            # also HTTPS, TCP, COMMAND {command: "..."}
  readinessChecks:
    - {protocol: HTTP, portName: http, path: /ready, intervalSeconds: 2, timeoutSeconds: 1,
       httpStatusCodesForReady: [200]}
  upgradeStrategy: {minimumHealthCapacity: 0.85, maximumOverCapacity: 0.15}   # defaults 1.0 / 1.0
  progressDeadlineSeconds: 120      # a rollout making no progress this long is rolled back
  revisionHistoryLimit: 10
  backoffSeconds: 1                 # Marathon defaults: 1, 1.15, 300
  backoffFactor: 1.15
  maxLaunchDelaySeconds: 300
  killSelection: YOUNGEST_FIRST     # or OLDEST_FIRST
  taskKillGracePeriodSeconds: 10    # SIGTERM, then SIGKILL
  unreachableStrategy: {inactiveAfterSeconds: 5, expungeAfterSeconds: 30}
  dependencies: [db]                # Apps that must be healthy first (same namespace, or ns/name)
  volumes:
    - {name: data, persistent: {size: 100}}   # local persistent volume: pins the instance to its node
  loadBalancer: {group: external, vhost: [shop.local], path: /, mode: http, balance: roundrobin, sticky: false}
`;

describe('parseManifests', () => {
  it('skips empty documents and keeps the index of the others', () => {
    const { documents, problems } = parseManifests('---\n# only a comment\n---\na: 1\n---\n', 'x.yaml');
    expect(problems).toEqual([]);
    expect(documents.map((d) => [d.index, d.value])).toEqual([[1, { a: 1 }]]);
  });

  it('reads JSON', () => {
    const { documents } = parseManifests('{"kind": "App", "spec": {"instances": 2}}', 'x.json');
    expect(documents[0]!.value).toEqual({ kind: 'App', spec: { instances: 2 } });
  });

  it.each([
    ['an unclosed flow sequence', 'a: 1\nb: [1, 2\nc: 3\n', 3],
    ['an unclosed quote', 'a: 1\nb: "x\n', 3],
    ['an unclosed flow mapping', 'kind: App\nmetadata: {name: web\nspec: {}\n', 3],
    ['a duplicate key', 'kind: App\nkind: Node\n', 2],
    ['a tab indentation in a later document', 'a: 1\n---\nb:\n\t- c\n', 4],
  ])('reports a YAML syntax error with its line: %s', (_, text, line) => {
    const { problems } = parseManifests(text, 'x.yaml');
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatchObject({ file: 'x.yaml', line, path: '', expected: 'valid YAML' });
  });

  it('locates a field at its key, and a missing field at its nearest parent', () => {
    const { documents } = parseManifests('kind: App\nspec:\n  containers:\n    - image: x\n      cmd: y\n', 'x.yaml');
    const doc = documents[0]!;
    expect(doc.locate(['spec', 'containers', 0, 'cmd'])).toEqual({ line: 5, column: 7 });
    expect(doc.locate(['spec', 'containers', 0, 'args'])).toEqual({ line: 4, column: 7 });
    expect(doc.locate(['spec', 'ports', 0])).toEqual({ line: 2, column: 1 });
    expect(doc.locate([])).toEqual({ line: 1, column: 1 });
  });
});

describe('validateDocuments', () => {
  it('parses the full App of DESIGN.md with its values and defaults', async () => {
    const { objects, problems } = await validate(FULL_APP);
    expect(problems).toEqual([]);
    expect(objects).toHaveLength(1);
    const [app] = objects as [AnyObject];
    expect(app.metadata).toEqual({ name: 'web', namespace: 'shop', labels: { tier: 'front' } });
    expect(app.spec).toMatchObject({
      instances: 3,
      constraints: [['hostname', 'UNIQUE'], ['rack', 'GROUP_BY', '3'], ['zone', 'LIKE', 'eu-.*']],
      upgradeStrategy: { minimumHealthCapacity: 0.85, maximumOverCapacity: 0.15 },
      loadBalancer: { group: 'external', vhost: ['shop.local'], mode: 'http', redirectToHttps: false, portIndex: 0 },
    });
  });

  it("reads constraint operators in any case, as Marathon does, and stores them upper-case", async () => {
    const { objects, problems } = await validate(minimal('  containers: [{image: x}]\n  constraints: [[hostname, unique], [rack, group_by, 0], ["@zone", Cluster]]'));
    expect(problems).toEqual([]);
    expect((objects[0]!.spec as { constraints: unknown }).constraints).toEqual([['hostname', 'UNIQUE'], ['rack', 'GROUP_BY', '0'], ['@zone', 'CLUSTER']]);
  });

  it('defaults the namespace, keeps marathon-lb labels, drops server-set metadata and status', async () => {
    const text = minimal('  containers: [{image: x}]', '{name: web, uid: u1, resourceVersion: "7", generation: 3, labels: {HAPROXY_GROUP: external, HAPROXY_0_VHOST: shop.local}}') + '\nstatus: {running: 3}\n';
    const { objects, problems } = await validate(text);
    expect(problems).toEqual([]);
    expect(objects[0]!.metadata).toEqual({ name: 'web', namespace: 'default', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.local' } });
    expect(objects[0]!.status).toBeUndefined();
  });

  it.each([
    ['an unknown kind', 'apiVersion: capstan/v1\nkind: Deployment\nmetadata: {name: web}\n',
      'web.yaml:2:1: kind: expected a known kind (App, Revision, Task, Node, Endpoints, Event, CustomKind, GitRepository, Sync, Volume; a kind a controller defines (defineKind) is known once that controller has started, which installs its CustomKind; a kind with no code is registered by `capstan apply -f` of a CustomKind), found "Deployment"'],
    ['a kind in the wrong case', 'apiVersion: capstan/v1\nkind: app\nmetadata: {name: web}\n',
      'web.yaml:2:1: kind: expected a known kind (App, Revision, Task, Node, Endpoints, Event, CustomKind, GitRepository, Sync, Volume; a kind a controller defines (defineKind) is known once that controller has started, which installs its CustomKind; a kind with no code is registered by `capstan apply -f` of a CustomKind), found "app" (did you mean "App"?)'],
    ['a wrong apiVersion', minimal('  containers: [{image: x}]').replace('capstan/v1', 'apps/v1'),
      'web.yaml:1:1: apiVersion: expected apiVersion "capstan/v1" for kind App, found "apps/v1"'],
    ['no metadata.name', minimal('  containers: [{image: x}]', '{namespace: shop}'),
      'web.yaml:3:1: metadata.name: expected metadata.name, a DNS label (required), found nothing'],
    ['a name that is not a DNS label', minimal('  containers: [{image: x}]', '{name: My_App}'),
      'web.yaml:3:12: metadata.name: expected a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters, found "My_App"'],
    ['a name over 63 characters', minimal('  containers: [{image: x}]', `{name: ${'a'.repeat(64)}}`),
      `web.yaml:3:12: metadata.name: expected a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters, found "${'a'.repeat(57)}..."`],
    ['a namespace that is not a DNS label', minimal('  containers: [{image: x}]', '{name: web, namespace: Shop}'),
      'web.yaml:3:23: metadata.namespace: expected a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters, found "Shop"'],
    ['a label value that is a number', minimal('  containers: [{image: x}]', '{name: web, labels: {version: 2}}'),
      'web.yaml:3:32: metadata.labels.version: expected a string (quote numbers and booleans in YAML: "2", "true"), found 2'],
    ['a misspelt metadata field', minimal('  containers: [{image: x}]', '{name: web, lables: {a: b}}'),
      'web.yaml:3:23: metadata.lables: expected a known field (name, namespace, labels, annotations, finalizers, ownerReferences, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp), found unknown field "lables" (did you mean "labels"?)'],
    ['a misspelt top-level field', 'apiVersion: capstan/v1\nkind: App\nmetadata: {name: web}\nsepc: {}\n', [
      'web.yaml:1:1: spec.containers: expected a list (required), found nothing',
      'web.yaml:4:1: sepc: expected a known field (apiVersion, kind, metadata, spec, status), found unknown field "sepc" (did you mean "spec"?)',
    ]],
    ['a document that is a list', '- a\n- b\n', 'web.yaml:1:1: expected an object with apiVersion, kind, metadata and spec, found a list of 2 items'],
    ['a missing spec', 'apiVersion: capstan/v1\nkind: App\nmetadata: {name: web}\n',
      'web.yaml:1:1: spec.containers: expected a list (required), found nothing'],
    ['a spec field of the wrong type', minimal('  instances: three\n  containers: [{image: x}]'),
      'web.yaml:5:3: spec.instances: expected a number, found "three"'],
    ['a list where a mapping belongs', minimal('  containers: [{image: x}]\n  upgradeStrategy: [1]'),
      'web.yaml:6:3: spec.upgradeStrategy: expected a mapping, found a list of 1 item'],
    ['an unknown spec field', minimal('  instanses: 2\n  containers: [{image: x}]'),
      'web.yaml:5:3: spec.instanses: expected a known field (instances, driver, containers, ports, constraints, healthChecks, readinessChecks, upgradeStrategy, progressDeadlineSeconds, revisionHistoryLimit, backoffSeconds, backoffFactor, maxLaunchDelaySeconds, killSelection, taskKillGracePeriodSeconds, drainTimeoutSeconds, unreachableStrategy, dependencies, volumes, loadBalancer), found unknown field "instanses" (did you mean "instances"?)'],
    ['an unknown field of a health check', minimal('  containers: [{image: x}]\n  ports: [{name: http}]\n  healthChecks:\n    - protocol: TCP\n      path: /'),
      'web.yaml:9:7: spec.healthChecks[0].path: expected a known field (protocol, portIndex, portName, gracePeriodSeconds, intervalSeconds, timeoutSeconds, maxConsecutiveFailures, delaySeconds, container), found unknown field "path"'],
    ['an unknown constraint operator', minimal('  containers: [{image: x}]\n  constraints: [[hostname, UNIQ]]'),
      'web.yaml:6:28: spec.constraints[0][1]: expected one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS, found "UNIQ" (did you mean "UNIQUE"?)'],
    ['a misspelt constraint operator in lower case', minimal('  containers: [{image: x}]\n  constraints: [[hostname, uniq]]'),
      'web.yaml:6:28: spec.constraints[0][1]: expected one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS, found "uniq" (did you mean "UNIQUE"?)'],
    ['a health check protocol in lower case', minimal('  containers: [{image: x}]\n  ports: [{name: http}]\n  healthChecks: [{protocol: http}]'),
      'web.yaml:7:19: spec.healthChecks[0].protocol: expected a protocol of HTTP, HTTPS, TCP, COMMAND, found "http" (did you mean "HTTP"?)'],
    ['a near miss of cmd', minimal('  containers: [{image: x, comand: sleep 9}]'),
      'web.yaml:5:27: spec.containers[0].comand: expected a known field (name, image, cmd, args, env, resources, volumeMounts), found unknown field "comand" (did you mean "cmd"?)'],
    ['Kubernetes\' command for cmd', minimal('  containers: [{image: x, command: sleep 9}]'),
      'web.yaml:5:27: spec.containers[0].command: expected a known field (name, image, cmd, args, env, resources, volumeMounts), found unknown field "command" (did you mean "cmd"?)'],
    ['Kubernetes\' replicas for instances', minimal('  replicas: 2\n  containers: [{image: x}]'),
      /^web\.yaml:5:3: spec\.replicas: expected a known field \(instances, .*\), found unknown field "replicas" \(did you mean "instances"\?\)$/],
    ['no suggestion for an unrelated short name', minimal('  containers: [{image: x, id: a}]'),
      'web.yaml:5:27: spec.containers[0].id: expected a known field (name, image, cmd, args, env, resources, volumeMounts), found unknown field "id"'],
    ['a MAX_PER without value', minimal('  containers: [{image: x}]\n  constraints:\n    - [rack, MAX_PER]'),
      'web.yaml:7:14: spec.constraints[0][1]: expected an integer for MAX_PER (the most instances per value, e.g. "2"), found no value'],
    ['a LIKE that does not compile', minimal('  containers: [{image: x}]\n  constraints:\n    - [zone, LIKE, "eu-("]'),
      'web.yaml:7:20: spec.constraints[0][2]: expected a Java regular expression for LIKE, matched against the whole value (e.g. "eu-.*"), found "eu-(": a "(" without its ")"'],
    ['an unknown health protocol', minimal('  containers: [{image: x}]\n  healthChecks:\n    - protocol: UDP'),
      'web.yaml:7:7: spec.healthChecks[0].protocol: expected a protocol of HTTP, HTTPS, TCP, COMMAND, found "UDP"'],
    ['a process container with cmd and args', minimal('  driver: process\n  containers:\n    - cmd: sleep 9\n      args: [sleep, "9"]'),
      'web.yaml:7:7: spec.containers[0].cmd: expected exactly one of cmd or args for a process container, found both'],
    ['a Docker container mounting at a relative path', minimal('  containers:\n    - image: x\n      volumeMounts: [{name: d, mountPath: data}]\n  volumes: [{name: d, ephemeral: {}}]'),
      'web.yaml:7:32: spec.containers[0].volumeMounts[0].mountPath: expected an absolute path inside the container in a Docker container, starting with "/", found "data"'],
    ['a readiness timeout not below its interval', minimal('  containers: [{image: x}]\n  ports: [{name: http}]\n  readinessChecks:\n    - portName: http\n      intervalSeconds: 5\n      timeoutSeconds: 5'),
      'web.yaml:10:7: spec.readinessChecks[0].timeoutSeconds: expected a timeoutSeconds below intervalSeconds (5), found 5'],
    ['duplicate port names', minimal('  containers: [{image: x}]\n  ports:\n    - name: http\n    - name: http'),
      'web.yaml:8:7: spec.ports[1].name: expected a port name unique in this App, found "http" again'],
    ['a namespace on a cluster-scoped kind', 'apiVersion: capstan/v1\nkind: Node\nmetadata: {name: n1, namespace: shop}\nspec: {address: 127.0.0.1, capacity: {cpus: 4, mem: 4096}}\n',
      'web.yaml:3:22: metadata.namespace: expected no namespace: Node is cluster-scoped, found "shop"'],
  ])('reports %s', async (_, text, expected) => {
    const { objects, problems } = await validate(text);
    if (expected instanceof RegExp) expect(problems).toEqual([expect.stringMatching(expected)]);
    else expect(problems).toEqual([expected].flat());
    expect(objects).toEqual([]);
  });

  describe('lists schema problems and the rules across fields of one document in one pass', () => {
    it.each([
      {
        name: 'a wrong type beside a GROUP_BY value',
        spec: '  instances: many\n  containers: [{image: x}]\n  constraints: [[rack, GROUP_BY, many]]',
        paths: ['spec.instances: expected a number', 'spec.constraints[0][2]: expected an integer for GROUP_BY'],
      },
      {
        name: 'a misspelt field beside a GROUP_BY value, and a misspelt operator beside its value',
        spec: '  driver: process\n  containers: [{comand: sleep 9}]\n  constraints: [[rack, GROUP_BY, many], [hostname, uniqe, x]]',
        paths: [
          'spec.containers[0].comand: expected a known field',
          'spec.constraints[0][2]: expected an integer for GROUP_BY',
          'spec.constraints[1][1]: expected one of UNIQUE',
          'spec.constraints[1][2]: expected no value: UNIQUE takes none',
        ],
      },
      {
        name: 'an unknown field beside a health check naming a missing port',
        spec: '  instanses: 2\n  containers: [{image: x}]\n  healthChecks: [{protocol: TCP, portIndex: 2}]',
        paths: ['spec.instanses: expected a known field', 'spec.healthChecks[0].portIndex: expected no port index'],
      },
    ])('$name', async ({ spec, paths }) => {
      const { objects, problems } = await validate(minimal(spec));
      expect(problems.map((p) => p.replace(/^web\.yaml:\d+:\d+: /, ''))).toEqual(paths.map((start) => expect.stringMatching(new RegExp(`^${start.replace(/[[\]().]/g, '\\$&')}`))));
      for (const problem of problems) expect(problem).toMatch(/^web\.yaml:\d+:\d+: spec\./);
      expect(objects).toEqual([]);
    });

    it('reports no rule about a field it had to stand a default in for', async () => {
      // ports is not a list: standing the default (no ports) in for it must not add "the App declares no ports".
      const { problems } = await validate(minimal('  containers: [{image: x}]\n  ports: http\n  healthChecks: [{protocol: TCP, portIndex: 0}]'));
      expect(problems).toEqual([expect.stringMatching(/^web\.yaml:6:3: spec\.ports: expected a list, found "http"$/)]);
    });

    it('runs no rule when a list item cannot be repaired', async () => {
      const { problems } = await validate(minimal('  containers: [{image: x}]\n  readinessChecks: [{path: /}]\n  constraints: [[rack, GROUP_BY, many]]'));
      expect(problems).toEqual([expect.stringMatching(/spec\.readinessChecks\[0\]\.portName: expected .*\(required\)/)]);
    });
  });

  it('reports every problem of every document, in line order', async () => {
    const text = [
      minimal('  instances: -1\n  containers:\n    - image: x\n      env: {PORT: 8080}'),
      '---',
      'apiVersion: capstan/v1\nkind: Nod\nmetadata: {name: n1}',
      '---',
      minimal('  driver: process\n  containers: [{cmd: a, args: [b]}]\n  ports: [{name: http}, {name: http}]', '{name: api}'),
    ].join('\n');
    const { problems } = await validate(text);
    expect(problems.map((p) => p.split(': ').slice(0, 2).join(': '))).toEqual([
      'web.yaml:5:3: spec.instances',
      'web.yaml:8:13: spec.containers[0].env.PORT',
      'web.yaml:11:1: kind',
      'web.yaml:19:17: spec.containers[0].cmd',
      'web.yaml:20:26: spec.ports[1].name',
    ]);
  });

  it('reports cross-field problems along with metadata problems', async () => {
    const { problems } = await validate(minimal('  containers: [{env: {A: b}}]', '{name: Web}'));
    expect(problems.map((p) => p.split(': ')[1])).toEqual(['metadata.name', 'spec.containers[0].cmd']);
  });

  it('keeps the valid objects of an input that has problems elsewhere', async () => {
    const text = `${minimal('  containers: [{image: x}]')}\n---\n${minimal('  containers: []', '{name: api}')}`;
    const { objects, problems } = await validate(text);
    expect(objects.map((o) => o.metadata.name)).toEqual(['web']);
    expect(problems).toHaveLength(1);
  });

  it('reports an object given twice, naming where it was first', async () => {
    const app = minimal('  containers: [{image: x}]', '{name: web, namespace: shop}');
    const { problems } = await validate(`${app}\n---\n${app}`);
    expect(problems).toEqual(['web.yaml:9:12: metadata.name: expected each object once in the input, found App shop/web again (first at web.yaml:3:12)']);
  });

  it('tells the same name in two namespaces apart', async () => {
    const { problems } = await validate(`${minimal('  containers: [{image: x}]', '{name: web, namespace: a}')}\n---\n${minimal('  containers: [{image: x}]', '{name: web, namespace: b}')}`);
    expect(problems).toEqual([]);
  });

  describe('service ports', () => {
    const withServicePort = (name: string, port: number) => minimal(`  containers: [{image: x}]\n  ports: [{name: http, servicePort: ${port}}]`, `{name: ${name}}`);
    const storeWith = (items: AnyObject[]): StoreReader => ({ list: async (kind) => ({ items: items.filter((o) => o.kind === kind) }) });

    it('reports a service port another App in the store uses', async () => {
      const stored = (await validate(withServicePort('api', 10004))).objects;
      const { problems } = await validate(withServicePort('web', 10004), storeWith(stored));
      expect(problems).toEqual(['web.yaml:6:24: spec.ports[0].servicePort: expected a servicePort no other App uses, found 10004, used by App default/api']);
    });

    it('reports two Apps of one input claiming one service port', async () => {
      const { problems } = await validate(`${withServicePort('web', 10004)}\n---\n${withServicePort('api', 10004)}`);
      expect(problems).toHaveLength(2);
    });

    it('lets an App re-apply its own service port', async () => {
      const stored = (await validate(withServicePort('web', 10004))).objects;
      expect((await validate(withServicePort('web', 10004), storeWith(stored))).problems).toEqual([]);
    });

    it('sees the input replace the stored App moving off the port', async () => {
      const stored = (await validate(withServicePort('api', 10004))).objects;
      const text = `${withServicePort('web', 10004)}\n---\n${withServicePort('api', 10005)}`;
      expect((await validate(text, storeWith(stored))).problems).toEqual([]);
    });
  });

  it('validates the objects the system writes', async () => {
    const node = 'apiVersion: capstan/v1\nkind: Node\nmetadata: {name: n1}\nspec: {address: 127.0.0.1, attributes: {hostname: n1, rack: r1}, capacity: {cpus: 4, mem: 4096}}\n';
    const { objects, problems } = await validate(node);
    expect(problems).toEqual([]);
    expect(objects[0]).toEqual({
      apiVersion: 'capstan/v1',
      kind: 'Node',
      metadata: { name: 'n1' },
      spec: {
        address: '127.0.0.1',
        attributes: { hostname: 'n1', rack: 'r1' },
        capacity: { cpus: 4, mem: 4096, disk: 0, gpus: 0 },
        portRange: { from: 31000, to: 32000 },
        drivers: ['docker', 'process'],
        unschedulable: false,
      },
    });
  });
});
