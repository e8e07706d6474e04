import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { appKind } from '../kinds/app.ts';
import type { AnyObject } from '../object.ts';
import { MARATHON_DEPENDENCIES_ANNOTATION } from './annotations.ts';
import { groupFromMarathon, groupToMarathon } from './group.ts';
import { MARATHON_ID_ANNOTATION } from './ids.ts';

const REFERENCE = new URL('../../../shared/reference/marathon/', import.meta.url);
const reference = (file: string): unknown => JSON.parse(readFileSync(new URL(file, REFERENCE), 'utf8'));

const app = (id: string, extra: Record<string, unknown> = {}) => ({ id, cmd: 'sleep 1000', cpus: 0.1, mem: 16, ...extra });

/** What a test reads of each App: where it lives, its Marathon id and its dependencies. */
function summary(apps: readonly AnyObject[]) {
  return apps.map((a) => ({
    ref: `${a.metadata.namespace}/${a.metadata.name}`,
    id: a.metadata.annotations?.[MARATHON_ID_ANNOTATION],
    dependencies: (a.spec as { dependencies?: string[] }).dependencies ?? [],
  }));
}

describe('groupFromMarathon', () => {
  it.each([
    {
      scenario: 'nested groups: relative ids resolve against their group, absolute ones are kept',
      json: { id: '/shop', apps: [app('web')], groups: [{ id: 'data', apps: [app('db'), app('/shop/data/cache')] }] },
      apps: [
        { ref: 'shop/web', id: '/shop/web', dependencies: [] },
        { ref: 'shop/data-db', id: '/shop/data/db', dependencies: [] },
        { ref: 'shop/data-cache', id: '/shop/data/cache', dependencies: [] },
      ],
    },
    {
      scenario: "a dependency on a group means every app inside it, its nested groups' too",
      json: { id: '/shop', apps: [app('web', { dependencies: ['data'] })], groups: [{ id: 'data', apps: [app('db')], groups: [{ id: 'cold', apps: [app('archive')] }] }] },
      apps: [
        { ref: 'shop/web', id: '/shop/web', dependencies: ['shop/data-db', 'shop/data-cold-archive'] },
        { ref: 'shop/data-db', id: '/shop/data/db', dependencies: [] },
        { ref: 'shop/data-cold-archive', id: '/shop/data/cold/archive', dependencies: [] },
      ],
    },
    {
      scenario: "a group's dependencies reach every app inside it, resolved against the group",
      json: { id: '/shop', groups: [{ id: 'data', apps: [app('db')] }, { id: 'front', dependencies: ['../data'], apps: [app('web')], groups: [{ id: 'admin', apps: [app('ui', { dependencies: ['../web'] })] }] }] },
      apps: [
        { ref: 'shop/data-db', id: '/shop/data/db', dependencies: [] },
        { ref: 'shop/front-web', id: '/shop/front/web', dependencies: ['shop/data-db'] },
        { ref: 'shop/front-admin-ui', id: '/shop/front/admin/ui', dependencies: ['shop/front-web', 'shop/data-db'] },
      ],
    },
    {
      scenario: 'a dependency outside the document is taken as an app elsewhere; an app never depends on itself through its group',
      json: { id: '/shop', dependencies: ['/shop/web', '/other/queue'], apps: [app('web'), app('worker')] },
      apps: [
        { ref: 'shop/web', id: '/shop/web', dependencies: ['other/queue'] },
        { ref: 'shop/worker', id: '/shop/worker', dependencies: ['shop/web', 'other/queue'] },
      ],
    },
    {
      scenario: 'a group without an id is the root (or the parent given); apps may sit below it in implicit groups',
      json: { apps: [app('/web'), app('/prod/api')] },
      apps: [
        { ref: 'default/web', id: '/web', dependencies: [] },
        { ref: 'prod/api', id: '/prod/api', dependencies: [] },
      ],
    },
    {
      scenario: 'the read-only fields of a GET (version) are accepted, enforceRole false too',
      json: { id: '/shop', version: '2015-09-17T10:38:20.875Z', enforceRole: false, dependencies: [], apps: [app('web')], groups: [], pods: [] },
      apps: [{ ref: 'shop/web', id: '/shop/web', dependencies: [] }],
    },
  ])('$scenario', ({ json, apps }) => {
    const result = groupFromMarathon(json);
    expect(result.problems).toEqual([]);
    expect(summary(result.apps)).toEqual(apps);
  });

  it('resolves the top group against parentId (PUT /v2/groups/{id}) and names paths from options.path', () => {
    const result = groupFromMarathon({ apps: [app('web')], groups: [{ id: 'db', apps: [app('pg')] }] }, { parentId: '/shop' });
    expect(summary(result.apps).map((a) => a.id)).toEqual(['/shop/web', '/shop/db/pg']);
    const placed = groupFromMarathon({ id: '/shop', bogus: 1 }, { path: ['body'] });
    expect(placed.problems.map((p) => p.path)).toEqual([['body', 'bogus']]);
  });

  it('writes the ids a group dependency expanded to in the annotation the Marathon view reads', () => {
    const [web] = groupFromMarathon({ id: '/shop', dependencies: ['/shop/data'], apps: [app('web')], groups: [{ id: 'data', apps: [app('db')] }] }).apps;
    expect(JSON.parse(web!.metadata.annotations![MARATHON_DEPENDENCIES_ANNOTATION]!)).toEqual(['/shop/data/db']);
  });

  it.each([
    { scenario: 'an unknown field, with the near name', json: { id: '/shop', app: [] }, path: ['app'], found: /"app".*"apps"/ },
    { scenario: 'instances on a group (scale each app)', json: { id: '/shop', instances: 2 }, path: ['instances'], found: /"instances"/ },
    { scenario: 'enforceRole true: no Mesos roles', json: { id: '/shop', enforceRole: true }, path: ['enforceRole'], expected: /roles/ },
    { scenario: 'scaleBy in a definition', json: { id: '/shop', scaleBy: 2 }, path: ['scaleBy'], expected: /capstan scale/ },
    { scenario: 'an app outside its group', json: { id: '/shop', apps: [app('/other/web')] }, path: ['apps', 0, 'id'], expected: /inside the group \/shop/ },
    { scenario: 'a nested group outside its parent', json: { id: '/shop', groups: [{ id: '/other' }] }, path: ['groups', 0, 'id'], expected: /inside the group \/shop/ },
    { scenario: 'a nested group without an id', json: { id: '/shop', groups: [{ apps: [] }] }, path: ['groups', 0, 'id'], expected: /Marathon id/ },
    { scenario: 'an id above the root', json: { id: '../..' }, path: ['id'], expected: /Marathon id/ },
    { scenario: 'apps that are not a list', json: { id: '/shop', apps: { web: {} } }, path: ['apps'], expected: /list of apps/ },
    { scenario: 'an app that is not an object', json: { id: '/shop', apps: ['web'] }, path: ['apps', 0], expected: /an app/ },
    { scenario: 'a group dependency that is no id', json: { id: '/shop', dependencies: [7] }, path: ['dependencies', 0], expected: /dependency/ },
    { scenario: 'the same id twice', json: { id: '/shop', apps: [app('web')], groups: [{ id: 'web' }] }, path: ['groups', 0, 'id'], found: /"\/shop\/web" again \(first at apps\[0\]\.id\)/ },
    { scenario: 'a group that is not an object', json: [app('/web')], path: [], expected: /group/ },
  ])('rejects $scenario, with its path', ({ json, path, expected, found }) => {
    const { problems } = groupFromMarathon(json);
    expect(problems).toEqual([expect.objectContaining({ path, ...(expected ? { expected: expect.stringMatching(expected) } : {}), ...(found ? { found: expect.stringMatching(found) } : {}) })]);
  });

  it('reports the problems of its apps at their paths in the document, and passes on only the apps read without one', () => {
    const result = groupFromMarathon({ id: '/shop', apps: [app('web')], groups: [{ id: 'data', apps: [app('db', { fetch: [{ uri: 'http://x/y.tgz' }] })] }] });
    expect(result.problems.map((p) => p.path)).toEqual([['groups', 0, 'apps', 0, 'fetch']]);
    expect(summary(result.apps).map((a) => a.id)).toEqual(['/shop/web']);
  });

  describe('the reference groups', () => {
    it("marathon-docs-group.json: nested ids resolved, and what Capstan cannot honour said at its path in the tree", () => {
      const result = groupFromMarathon(reference('marathon-docs-group.json'));
      // datadog-agent runs privileged; the registry maps container port 5000 on a bridge network.
      expect(result.problems.map((p) => p.path.join('.'))).toEqual([
        'groups.0.apps.1.container.docker.privileged',
        'groups.0.groups.1.apps.0.ports',
        'groups.0.groups.1.apps.0.container.docker.portMappings.0.containerPort',
      ]);
      expect(summary(result.apps)).toEqual([{ ref: 'tools/oauth-server', id: '/tools/oauth-server', dependencies: [] }]);
    });

    it('marathon-docs-apps-with-dependencies.json, as the apps of the root group: sleep60 waits for sleep120 and the app elsewhere', () => {
      const result = groupFromMarathon({ apps: reference('marathon-docs-apps-with-dependencies.json') });
      expect(result.problems).toEqual([]);
      expect(summary(result.apps)).toEqual([
        { ref: 'test/sleep60', id: '/test/sleep60', dependencies: ['test/sleep120', 'other/namespace-or-app'] },
        { ref: 'test/sleep120', id: '/test/sleep120', dependencies: [] },
      ]);
    });

    it('tweeter.json and its router in a group /tweeter: the problems at their paths inside it; made runnable, the router depends on the app', () => {
      const tweeter = { ...(reference('tweeter.json') as Record<string, unknown>), id: 'app' };
      const router = { ...(reference('tweeter-router.json') as Record<string, unknown>), id: 'router', dependencies: ['app'] };
      const asIs = groupFromMarathon({ id: '/tweeter', apps: [tweeter, router] });
      expect(asIs.problems.map((p) => p.path.join('.'))).toContain('apps.1.acceptedResourceRoles');
      for (const problem of asIs.problems) expect(problem.path.slice(0, 2)).toEqual(['apps', expect.any(Number)]);

      // Listening on the host port ($PORT0) and with no Mesos role, both run on Capstan.
      const onHostPort = (definition: Record<string, unknown>) => {
        const { acceptedResourceRoles: _roles, ...rest } = definition;
        const container = rest.container as { docker: { portMappings: Record<string, unknown>[] } };
        const portMappings = container.docker.portMappings.map((mapping) => ({ ...mapping, containerPort: mapping.hostPort === 0 ? 0 : mapping.hostPort }));
        return { ...rest, container: { ...container, docker: { ...container.docker, portMappings } } };
      };
      const runnable = groupFromMarathon({ id: '/tweeter', apps: [onHostPort(tweeter), onHostPort(router)] });
      expect(runnable.problems).toEqual([]);
      expect(summary(runnable.apps)).toEqual([
        { ref: 'tweeter/app', id: '/tweeter/app', dependencies: [] },
        { ref: 'tweeter/router', id: '/tweeter/router', dependencies: ['tweeter/app'] },
      ]);
    });
  });
});

describe('groupToMarathon', () => {
  const stored = (id: string, extra: Record<string, unknown> = {}) => {
    const translated = groupFromMarathon({ apps: [app(id, extra)] }).apps[0]!;
    // As the store keeps it: the spec defaulted by the kind's schema.
    return { ...translated, metadata: { ...translated.metadata, uid: `uid${id}`, creationTimestamp: '2026-01-01T00:00:00.000Z' }, spec: appKind.spec.parse(translated.spec) };
  };
  const apps = [stored('/shop/web'), stored('/shop/data/db'), stored('/shop/data/cache'), stored('/web'), stored('/tools/docker/registry')];

  const tree = (group: Record<string, unknown>): unknown => ({
    id: group.id,
    apps: (group.apps as { id: string }[]).map((a) => a.id),
    groups: (group.groups as Record<string, unknown>[]).map(tree),
  });

  it.each([
    {
      id: '/',
      expected: {
        id: '/',
        apps: ['/web'],
        groups: [
          { id: '/shop', apps: ['/shop/web'], groups: [{ id: '/shop/data', apps: ['/shop/data/cache', '/shop/data/db'], groups: [] }] },
          { id: '/tools', apps: [], groups: [{ id: '/tools/docker', apps: ['/tools/docker/registry'], groups: [] }] },
        ],
      },
    },
    { id: '/shop/data', expected: { id: '/shop/data', apps: ['/shop/data/cache', '/shop/data/db'], groups: [] } },
    { id: 'shop/data/', expected: { id: '/shop/data', apps: ['/shop/data/cache', '/shop/data/db'], groups: [] } },
  ])('builds the tree of $id from the ids', ({ id, expected }) => {
    const group = groupToMarathon(id, apps)!;
    expect(tree(group)).toEqual(expected);
    expect(group).toMatchObject({ pods: [], dependencies: [], version: expect.any(String) });
  });

  it.each(['/nothing', '/shop/web', '/shop/we'])('has no group %s: no app inside it', (id) => {
    expect(groupToMarathon(id, apps)).toBeUndefined();
  });

  it('answers the empty root as Marathon does', () => {
    expect(groupToMarathon('/', [])).toEqual({ id: '/', apps: [], groups: [], pods: [], dependencies: [], version: new Date(0).toISOString() });
  });

  it('embeds the tasks tasksOf gives each app', () => {
    const group = groupToMarathon('/shop', apps, { tasksOf: () => [], embed: new Set(['apps.tasks']) })!;
    expect((group.apps as Record<string, unknown>[])[0]).toMatchObject({ id: '/shop/web', tasks: [] });
  });

  it('applies again as the same Apps', () => {
    const group = groupToMarathon('/', apps)!;
    const again = groupFromMarathon(group);
    expect(again.problems).toEqual([]);
    expect(summary(again.apps).map((a) => a.id).sort()).toEqual(apps.map((a) => a.metadata.annotations![MARATHON_ID_ANNOTATION]).sort());
  });
});
