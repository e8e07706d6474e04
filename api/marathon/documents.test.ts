import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../kinds/builtin.ts';
import { parseManifests, validateDocuments } from '../manifest.ts';
import { marathonShapeOf, translateMarathonDocuments } from './documents.ts';
import { MARATHON_ID_ANNOTATION } from './ids.ts';

const REFERENCE = new URL('../../../shared/reference/marathon/', import.meta.url);
const referenceFiles = readdirSync(REFERENCE).filter((file) => file.endsWith('.json'));
const reference = (file: string): unknown => JSON.parse(readFileSync(new URL(file, REFERENCE), 'utf8'));

const translateText = (text: string, file = 'app.json') => translateMarathonDocuments(parseManifests(text, file).documents);

describe('marathonShapeOf', () => {
  const expected: Record<string, string> = {
    'marathon-docs-apps-with-dependencies.json': 'apps',
    'marathon-docs-group.json': 'group',
    'marathon-docs-pod.json': 'pod',
    'marathon-docs-pod-multi-container.json': 'pod',
    'marathon-si-persistent-volume-pod.json': 'pod',
    'marathon-si-simple-pod.json': 'pod',
  };
  it.each(referenceFiles)('reference %s', (file) => {
    expect(marathonShapeOf(reference(file))).toBe(expected[file] ?? 'app');
  });

  it.each([
    { scenario: 'a Capstan object', value: { apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'web' }, spec: {} }, shape: undefined },
    { scenario: 'a kind without apiVersion (a Capstan mistake, not Marathon)', value: { kind: 'App', id: '/web' }, shape: undefined },
    { scenario: 'an app with a relative id', value: { id: 'web', cmd: 'sleep 1' }, shape: 'app' },
    { scenario: 'an id that is no string', value: { id: 7 }, shape: undefined },
    { scenario: "GET /v2/apps' answer, a root group without id", value: { apps: [] }, shape: 'group' },
    { scenario: 'a group of groups only', value: { id: '/shop', groups: [] }, shape: 'group' },
    { scenario: 'a pod', value: { id: '/p', containers: [{ name: 'a', resources: { cpus: 0.1, mem: 16 } }] }, shape: 'pod' },
    { scenario: 'an app with an empty containers list', value: { id: '/p', containers: [] }, shape: 'app' },
    { scenario: 'an array of apps', value: [{ id: '/a' }, { id: 'b' }], shape: 'apps' },
    { scenario: 'an empty array', value: [], shape: undefined },
    { scenario: 'an array with a Capstan object', value: [{ id: '/a' }, { apiVersion: 'capstan/v1', kind: 'App' }], shape: undefined },
    { scenario: 'a string', value: 'web', shape: undefined },
  ])('$scenario → $shape', ({ value, shape }) => {
    expect(marathonShapeOf(value)).toBe(shape);
  });
});

describe('translateMarathonDocuments', () => {
  it('passes a Capstan document through as it is', () => {
    const parsed = parseManifests('apiVersion: capstan/v1\nkind: App\nmetadata: {name: web}\nspec: {containers: [{cmd: sleep 1}]}\n', 'web.yaml');
    const result = translateMarathonDocuments(parsed.documents);
    expect(result).toEqual({ documents: parsed.documents, problems: [] });
    expect(result.documents[0]).toBe(parsed.documents[0]);
  });

  it('locates the JSON: parse.ts gives line:col for a JSON file, as YAML', () => {
    const text = '{\n  "id": "/web",\n  "cmd": "sleep 1",\n  "healthChecks": [\n    {\n      "protocol": "HTTP",\n      "portIndex": 0\n    }\n  ]\n}\n';
    const [document] = parseManifests(text, 'app.json').documents;
    expect(document!.locate(['cmd'])).toEqual({ line: 3, column: 3 });
    expect(document!.locate(['healthChecks', 0, 'protocol'])).toEqual({ line: 6, column: 7 });
  });

  it.each([
    {
      scenario: 'an app: each problem at its field',
      text: '{\n  "id": "/web",\n  "cmd": "sleep 1",\n  "healthChecks": [{ "protocol": "HTTPX" }],\n  "comand": "x"\n}\n',
      problems: [
        { line: 4, column: 22, path: 'healthChecks[0].protocol', found: '"HTTPX"' },
        { line: 5, column: 3, path: 'comand', found: expect.stringContaining('"cmd"') },
      ],
    },
    {
      scenario: 'an array of apps: paths from the array',
      text: '[\n  { "id": "/a", "cmd": "sleep 1" },\n  { "id": "/b", "cmd": "sleep 1", "fetch": [{ "uri": "http://x/y" }] }\n]\n',
      problems: [{ line: 3, column: 35, path: '[1].fetch' }],
      apps: ['a'],
    },
    {
      scenario: 'a group: paths through the tree',
      text: '{\n  "id": "/shop",\n  "groups": [\n    { "id": "db", "apps": [{ "id": "pg", "cmd": "x", "mem": -1 }] }\n  ],\n  "scaleBy": 2\n}\n',
      problems: [
        { line: 4, column: 54, path: 'groups[0].apps[0].mem', found: '-1' },
        { line: 6, column: 3, path: 'scaleBy' },
      ],
    },
    {
      scenario: 'a pod',
      text: '{\n  "id": "/p",\n  "containers": [\n    { "name": "a", "resources": { "cpus": 0.1, "mem": 16 }, "exec": { "command": { "shell": "x" } }, "bogus": 1 }\n  ]\n}\n',
      problems: [{ line: 4, column: 102, path: 'containers[0].bogus' }],
    },
  ])('reports $scenario with file:line:col and the Marathon path, and passes no App read with a problem', ({ text, problems, apps }) => {
    const result = translateText(text);
    expect(result.problems).toEqual(problems.map((problem) => expect.objectContaining({ file: 'app.json', ...problem })));
    expect(result.documents.map((d) => (d.value as { metadata: { name: string } }).metadata.name)).toEqual(apps ?? []);
  });

  it.each(referenceFiles)('translates reference %s: its Apps by id, or each problem at a field the file writes', (file) => {
    const text = readFileSync(new URL(file, REFERENCE), 'utf8');
    const [source] = parseManifests(text, file).documents;
    const result = translateMarathonDocuments([source!]);
    const lines = text.split('\n').length;
    for (const problem of result.problems) {
      expect(problem.file).toBe(file);
      expect(problem.line).toBeGreaterThan(1);
      expect(problem.line).toBeLessThanOrEqual(lines);
      expect(text.split('\n')[problem.line - 1]!.slice(problem.column - 1)).toMatch(/^["{[]/);
    }
    for (const document of result.documents) {
      expect((document.value as { metadata: { annotations: Record<string, string> } }).metadata.annotations[MARATHON_ID_ANNOTATION]).toMatch(/^\//);
    }
    expect(result.documents.length + result.problems.length).toBeGreaterThan(0);
  });

  it('makes a document of each App, in the source file and at its index', () => {
    const text = '{"apiVersion": "capstan/v1", "kind": "App", "metadata": {"name": "x"}, "spec": {"containers": [{"cmd": "sleep 1"}]}}\n---\n{"id": "/shop", "apps": [{"id": "web", "cmd": "sleep 1"}], "groups": [{"id": "db", "apps": [{"id": "pg", "cmd": "sleep 1"}]}]}\n';
    const result = translateText(text, 'mixed.yaml');
    expect(result.problems).toEqual([]);
    expect(result.documents.map((d) => [d.file, d.index, (d.value as { metadata: { name: string } }).metadata.name])).toEqual([
      ['mixed.yaml', 0, 'x'],
      ['mixed.yaml', 1, 'web'],
      ['mixed.yaml', 1, 'db-pg'],
    ]);
    expect((result.documents[2]!.value as { metadata: { annotations: Record<string, string> } }).metadata.annotations[MARATHON_ID_ANNOTATION]).toBe('/shop/db/pg');
  });

  it('shows a problem that validation finds later at the Marathon field, named by it', async () => {
    // The same id twice: the second app's id is where validation says so, and by its Marathon name.
    const text = '[\n  { "id": "/a", "cmd": "sleep 1" },\n  { "id": "/a", "cmd": "sleep 2" }\n]\n';
    const translated = translateText(text, 'twice.json');
    expect(translated.problems).toEqual([]);
    const validation = await validateDocuments(translated.documents, builtinRegistry());
    expect(validation.problems).toEqual([expect.objectContaining({ file: 'twice.json', line: 3, column: 5, path: '[1].id', found: expect.stringContaining('twice.json:2:5') })]);
  });

  it('locates a field the JSON writes under another parent by its Marathon path (spec.ports[0].servicePort ← portDefinitions[0].port)', () => {
    const text = '{\n  "id": "/web",\n  "cmd": "sleep 1",\n  "portDefinitions": [\n    { "port": 10100, "name": "http" }\n  ]\n}\n';
    const [document] = translateText(text).documents;
    expect(document!.locate(['spec', 'ports', 0, 'servicePort'])).toEqual({ line: 5, column: 7 });
    expect(document!.describe!(['spec', 'ports', 0, 'servicePort'])).toBe('portDefinitions[0].port');
    expect(document!.describe!(['spec', 'ports', 0, 'name'])).toBe('portDefinitions[0].name');
    // A field the JSON does not write falls back to the app's id, still named by Capstan's path.
    expect(document!.locate(['spec', 'revisionHistoryLimit'])).toEqual({ line: 2, column: 3 });
  });
});
