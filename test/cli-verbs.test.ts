// The verbs operators expect, against a real etcd: scale (and how a later apply treats it), edit with
// a scripted $EDITOR (a shell script that edits the file with sed), patch, get all and version.
// exec and logs --previous need a node agent: test/cli-exec.test.ts.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { appSpecSchema, templateOf } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { AnyObject } from '../api/object.ts';
import { APPLIED_ANNOTATION, INVENTORY_LABEL } from '../api/apply/plan.ts';
import { capstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';
import { freePort } from './helpers/ports.ts';
import { appYaml } from './helpers/manifests.ts';

const app = (name: string, options: { instances?: number; cmd?: string } = {}) => appYaml(name, { driver: 'process', ...options });

type App = AnyObject & { spec: { instances: number } };

describe('capstan scale, edit, patch, get all, version', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let dir: string;
  const run = (args: string[], env: Record<string, string> = {}) => capstan(args, { etcd: db.etcd.url, cwd: dir, env });
  const getApp = async (name: string) => (await db.store.get('App', { namespace: 'default', name })) as App | undefined;
  const write = (file: string, text: string) => {
    writeFileSync(join(dir, file), text);
    return file;
  };
  /** An executable script in the test's directory, for CAPSTAN_EDITOR. */
  const script = (file: string, body: string) => {
    const path = join(dir, file);
    writeFileSync(path, `#!/bin/sh\nset -e\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  const applyWeb = async (instances?: number) => {
    write('web.yaml', app('web', instances === undefined ? {} : { instances }));
    return run(['apply', '-f', 'web.yaml']);
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'capstan-verbs-'));
    return () => rmSync(dir, { recursive: true, force: true });
  });

  describe('scale', () => {
    it('changes spec.instances only: the inventory label and the last-applied record stay as apply left them', async () => {
      expect(await applyWeb(2)).toMatchObject({ code: 0, stdout: 'app/web created\n' });
      const applied = (await getApp('web'))!;

      const scaled = await run(['scale', 'web', '5']);
      expect(scaled).toMatchObject({ code: 0, stdout: 'app/web scaled from 2 to 5\n', stderr: '' });
      const after = (await getApp('web'))!;
      expect(after.spec.instances).toBe(5);
      expect(after.metadata.labels).toEqual(applied.metadata.labels);
      expect(after.metadata.labels?.[INVENTORY_LABEL]).toBe('web-yaml');
      expect(after.metadata.annotations).toEqual(applied.metadata.annotations);
      expect(after.metadata.annotations?.[APPLIED_ANNOTATION]).toBeDefined();
      expect(after.metadata.generation).toBe((applied.metadata.generation ?? 0) + 1);
      expect({ ...after.spec, instances: 2 }).toEqual(applied.spec);

      expect(await run(['scale', 'app/web', '5'])).toMatchObject({ code: 0, stdout: 'app/web already has 5 instances: unchanged\n' });
      expect((await getApp('web'))!.metadata.resourceVersion).toBe(after.metadata.resourceVersion);
      expect(await run(['scale', 'web', '0'])).toMatchObject({ code: 0, stdout: 'app/web scaled from 5 to 0\n' });
    });

    it('a later apply of a manifest that sets instances wins, and the App stays in its inventory', async () => {
      await applyWeb(2);
      await run(['scale', 'web', '7']);
      const reapplied = await applyWeb(2);
      expect(reapplied).toMatchObject({ code: 0, stdout: 'app/web configured\n' });
      const after = (await getApp('web'))!;
      expect(after.spec.instances).toBe(2);
      expect(after.metadata.labels?.[INVENTORY_LABEL]).toBe('web-yaml');
      // And the set is still one: a prune of the same inventory keeps it.
      expect(await run(['apply', '-f', 'web.yaml', '--prune'])).toMatchObject({ code: 0, stdout: 'app/web unchanged\n' });
      expect(await getApp('web')).toBeDefined();
    });

    it.each([
      [['scale', 'web', 'many'], 2, 'scale: expected the number of instances as a whole number ≥ 0 (0 suspends the App, as Marathon\'s), found "many"'],
      [['scale', 'web', '1.5'], 2, 'found "1.5"'],
      [['scale', 'task/web-1', '2'], 2, 'scale: only Apps have instances, found kind "task"'],
      [['scale', 'nope', '2'], 1, 'app "nope" not found in namespace "default"'],
    ])('refuses %j with one sentence (exit %i)', async (args, code, message) => {
      await applyWeb(1);
      const result = await run(args);
      expect(result.code).toBe(code);
      expect(result.stderr).toContain(message);
      expect((await getApp('web'))!.spec.instances).toBe(1);
    });
  });

  describe('edit', () => {
    it('saves what the editor changed; status is not in the file', async () => {
      await applyWeb(1);
      const stored = (await getApp('web'))!;
      await db.store.updateStatus({ ...stored, status: { observedGeneration: 1, phase: 'Running' } } as AnyObject);
      const editor = script('editor.sh', `cp "$1" "${dir}/opened.yaml"\nsed -i 's/instances: 1/instances: 4/' "$1"`);

      const result = await run(['edit', 'app', 'web'], { CAPSTAN_EDITOR: editor });
      expect(result).toMatchObject({ code: 0, stdout: 'app/web edited\n', stderr: '' });
      expect((await getApp('web'))!.spec.instances).toBe(4);
      const opened = readFileSync(join(dir, 'opened.yaml'), 'utf8');
      expect(opened).toMatch(/^# Please edit the object below/);
      expect(opened).toMatch(/^kind: App$/m);
      expect(opened).not.toMatch(/^status:/m);
    });

    it('re-opens an invalid save with every problem as a comment, at its line and column, until it is fixed', async () => {
      await applyWeb(1);
      // First save: two problems. Second open: keep a copy of what was shown, then fix both.
      const editor = script(
        'editor.sh',
        [
          `if [ ! -f "${dir}/first" ]; then`,
          `  touch "${dir}/first"`,
          `  sed -i -e 's/instances: 1/instances: many/' -e 's/driver: process/driver: podman/' "$1"`,
          'else',
          `  cp "$1" "${dir}/reopened.yaml"`,
          `  sed -i -e 's/instances: many/instances: 3/' -e 's/driver: podman/driver: process/' "$1"`,
          'fi',
        ].join('\n'),
      );

      const result = await run(['edit', 'app/web'], { CAPSTAN_EDITOR: editor });
      expect(result).toMatchObject({ code: 0, stdout: 'app/web edited\n' });
      expect((await getApp('web'))!.spec.instances).toBe(3);

      const reopened = readFileSync(join(dir, 'reopened.yaml'), 'utf8');
      const lines = reopened.split('\n');
      expect(reopened).toContain('# app/web was not saved, 2 problems:\n');
      const problems = lines.filter((line) => /^# app-web\.yaml:\d+:\d+: /.test(line));
      expect(problems).toHaveLength(2);
      // Each problem names the line (of the file as shown) where its field is written.
      for (const [field, text] of [['instances', 'instances: many'], ['driver', 'driver: podman']] as const) {
        const problem = problems.find((line) => line.includes(`spec.${field}: expected`))!;
        expect(problem).toBeDefined();
        const [, line, column] = /app-web\.yaml:(\d+):(\d+)/.exec(problem)!;
        expect(lines[Number(line) - 1]!.slice(Number(column) - 1)).toMatch(new RegExp(`^(${field}: )?${text.split(': ')[1]}`));
      }
    });

    it('an unchanged or emptied file cancels, exit 0, nothing written', async () => {
      await applyWeb(1);
      const before = (await getApp('web'))!.metadata.resourceVersion;
      for (const editor of ['true', 'truncate -s 0']) {
        const result = await run(['edit', 'app', 'web'], { CAPSTAN_EDITOR: editor });
        expect(result).toMatchObject({ code: 0, stdout: 'Edit cancelled, no changes made.\n', stderr: '' });
      }
      expect((await getApp('web'))!.metadata.resourceVersion).toBe(before);
    });

    it('saving the same invalid file again gives up, lists the problems and keeps the file', async () => {
      await applyWeb(1);
      const editor = script('editor.sh', `sed -i 's/instances: 1/instances: many/' "$1"`);
      const result = await run(['edit', 'app', 'web'], { CAPSTAN_EDITOR: editor });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/app-web\.yaml:\d+:\d+: spec\.instances: expected/);
      const kept = /your edit is kept in (\S+)$/m.exec(result.stderr)?.[1];
      expect(result.stderr).toContain('Edit cancelled, no valid changes were saved: app/web is as it was');
      expect(kept && readFileSync(kept, 'utf8')).toContain('instances: many');
      expect((await getApp('web'))!.spec.instances).toBe(1);
    });

    it('says so when someone else wrote the object while the editor was open, and saves nothing', async () => {
      await applyWeb(1);
      const editor = script(
        'editor.sh',
        [`touch "${dir}/opened"`, `i=0; while [ ! -f "${dir}/go" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done`, `sed -i 's/instances: 1/instances: 4/' "$1"`].join('\n'),
      );
      const editing = run(['edit', 'app', 'web'], { CAPSTAN_EDITOR: editor });
      await until(() => existsSync(join(dir, 'opened')), { timeoutMs: 10_000, what: 'the editor to open' });
      expect(await run(['scale', 'web', '9'])).toMatchObject({ code: 0 });
      writeFileSync(join(dir, 'go'), '');

      const result = await editing;
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('app/web was changed by someone else while you edited it: nothing was saved.');
      expect(result.stderr).toContain('capstan get app web -o yaml');
      expect((await getApp('web'))!.spec.instances).toBe(9);
    });

    it('refuses to rename, and names a missing object', async () => {
      await applyWeb(1);
      const rename = await run(['edit', 'app', 'web'], { CAPSTAN_EDITOR: script('editor.sh', `sed -i 's/^  name: web$/  name: other/' "$1"`) });
      expect(rename.code).toBe(1);
      expect(rename.stderr).toMatch(/metadata\.name: expected name "default\/web" \(an object's name and namespace cannot change/);
      expect(await run(['edit', 'app', 'nope'], { CAPSTAN_EDITOR: 'true' })).toMatchObject({ code: 1, stderr: 'app "nope" not found in namespace "default"\n' });
    });
  });

  describe('patch', () => {
    it('applies a JSON or YAML merge patch: null removes, other fields stay', async () => {
      await applyWeb(1);
      expect(await run(['patch', 'app', 'web', '-p', '{"spec":{"instances":3}}'])).toMatchObject({ code: 0, stdout: 'app/web patched\n' });
      expect(await run(['patch', 'app/web', '-p', 'metadata: {labels: {tier: front}}'])).toMatchObject({ code: 0, stdout: 'app/web patched\n' });
      let stored = (await getApp('web'))!;
      expect(stored.spec.instances).toBe(3);
      expect(stored.metadata.labels).toEqual({ [INVENTORY_LABEL]: 'web-yaml', tier: 'front' });
      expect((stored.spec as unknown as { containers: { cmd: string }[] }).containers[0]!.cmd).toBe('sleep 1000');

      expect(await run(['patch', 'app', 'web', '-p', '{"metadata":{"labels":{"tier":null}}}'])).toMatchObject({ code: 0 });
      stored = (await getApp('web'))!;
      expect(stored.metadata.labels).toEqual({ [INVENTORY_LABEL]: 'web-yaml' });
      expect(await run(['patch', 'app', 'web', '-p', '{"spec":{"instances":3}}'])).toMatchObject({ code: 0, stdout: 'app/web patched (no change)\n' });
    });

    it('validates the result as apply does, each problem located in the patch; writes nothing', async () => {
      await applyWeb(1);
      const before = (await getApp('web'))!.metadata.resourceVersion;
      const patch = '{"spec": {"instances": "many", "driver": "podman"}}';
      const result = await run(['patch', 'app', 'web', '-p', patch]);
      expect(result.code).toBe(1);
      // At the field as the patch writes it.
      expect(result.stderr).toContain(`-p:1:${patch.indexOf('"instances"') + 1}: spec.instances: expected a number, found "many"\n`);
      expect(result.stderr).toContain(`-p:1:${patch.indexOf('"driver"') + 1}: spec.driver: expected one of docker, process, found "podman"\n`);
      expect(result.stderr).toContain('2 problems in app/web as patched: nothing was written');
      expect((await getApp('web'))!.metadata.resourceVersion).toBe(before);
    });

    it('--dry-run validates and writes nothing; bad input is one sentence', async () => {
      await applyWeb(1);
      expect(await run(['patch', 'app', 'web', '--dry-run', '-p', '{"spec":{"instances":2}}'])).toMatchObject({ code: 0, stdout: 'app/web patched (dry run)\n' });
      expect((await getApp('web'))!.spec.instances).toBe(1);
      const notObject = await run(['patch', 'app', 'web', '-p', '[1]']);
      expect(notObject).toMatchObject({ code: 2 });
      expect(notObject.stderr).toContain('-p: expected a JSON merge patch: an object');
      const missing = await run(['patch', 'app', 'nope', '-p', '{}']);
      expect(missing).toMatchObject({ code: 1, stderr: 'app "nope" not found in namespace "default"\n' });
    });
  });

  describe('get all', () => {
    it('lists Apps, Revisions, Tasks and Endpoints of the namespace as kind/name tables', async () => {
      await applyWeb(1);
      const spec = appSpecSchema.parse({ driver: 'process', containers: [{ cmd: 'sleep 1000' }] });
      await db.store.create({ apiVersion: 'capstan/v1', kind: 'Revision', metadata: { name: 'web-1', namespace: 'default' }, spec: { app: 'web', number: 1, template: templateOf(spec), instances: 1 } });
      await db.store.create({ apiVersion: 'capstan/v1', kind: 'Task', metadata: { name: 'web-1-abcde', namespace: 'default' }, spec: { app: 'web', revision: 1, template: templateOf(spec) } });
      await db.store.create({ apiVersion: 'capstan/v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default' }, spec: { app: 'web', ports: [] } });
      await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'elsewhere', namespace: 'other' }, spec: spec });

      const { code, stdout } = await run(['get', 'all']);
      expect(code).toBe(0);
      const tables = stdout.split('\n\n');
      expect(tables).toHaveLength(4);
      expect(tables.map((table) => table.split('\n')[1]!.split(/\s+/)[0])).toEqual(['app/web', 'revision/web-1', 'task/web-1-abcde', 'endpoints/web']);
      expect(tables.every((table) => table.startsWith('NAME'))).toBe(true);
      expect(stdout).not.toContain('elsewhere');

      const all = await run(['get', 'all', '-A']);
      expect(all.stdout).toMatch(/^other\s+app\/elsewhere/m);
      const yaml = await run(['get', 'all', '-o', 'yaml']);
      expect(yaml.stdout).toMatch(/^kind: List$/m);
      // kubectl's -o name: one kind/name per line, for scripts (`| xargs capstan describe`).
      expect(await run(['get', 'all', '-o', 'name'])).toMatchObject({ code: 0, stdout: 'app/web\nrevision/web-1\ntask/web-1-abcde\nendpoints/web\n' });
      expect(await run(['get', 'tasks', '-o', 'name'])).toMatchObject({ code: 0, stdout: 'task/web-1-abcde\n' });
      // kubectl's `get deploy,svc`: the kinds named, in that order, each its own table.
      expect(await run(['get', 'endpoints,apps', '-o', 'name'])).toMatchObject({ code: 0, stdout: 'endpoints/web\napp/web\n' });
      const two = await run(['get', 'apps,tasks']);
      expect(two.stdout.split('\n\n').map((table) => table.split('\n')[1]!.split(/\s+/)[0])).toEqual(['app/web', 'task/web-1-abcde']);
      expect(await run(['get', 'all', '-n', 'empty'])).toMatchObject({ code: 0, stdout: '', stderr: 'No resources found in empty namespace.\n' });
    });
  });

  describe('version', () => {
    it("prints the CLI's, Node's and etcd's versions", async () => {
      const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
      const result = await run(['version']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Client Version: ${version.replace(/\./g, '\\.')}\nNode Version: ${process.version}\netcd Version: 3\\.\\d+\\.\\d+ \\(http://`));
      expect(await run(['version', '--client'])).toMatchObject({ code: 0, stdout: `Client Version: ${version}\nNode Version: ${process.version}\n` });
    });

    it('an etcd that does not answer is one line, exit 0', async () => {
      const port = await freePort();
      const result = await capstan(['version'], { etcd: `http://127.0.0.1:${port}`, cwd: dir });
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^etcd Version: unknown, no answer from http://127\\.0\\.0\\.1:${port} \\(from CAPSTAN_ETCD\\): ECONNREFUSED\\. Start one with`, 'm'));
    });
  });
});
