// `capstan get all`: what an App is made of, as kubectl's `get all`: the Apps, Revisions, Tasks and
// Endpoints of the namespace (or every namespace with -A), each kind its own table, names written
// `kind/name` so that they paste into `describe`, `logs` and `delete`. `capstan get KIND,KIND` (as
// kubectl's `get deploy,svc`) prints the kinds it names the same way.
import { stringify } from 'yaml';
import { parseSelector } from '../api/labels.ts';
import { API_VERSION, type AnyObject } from '../api/object.ts';
import type { CommandContext } from './context.ts';
import { EXIT, usageError } from './errors.ts';
import { type GetOptions, namesOf, sortObjects, tableOf } from './get.ts';
import { formatTable } from './io.ts';

/** In the order of the loop: what people write, what it becomes, what runs, what serves. */
export const ALL_KINDS = ['App', 'Revision', 'Task', 'Endpoints'] as const;

const say = {
  noResources: (namespace: string | undefined) => (namespace ? `No resources found in ${namespace} namespace.` : 'No resources found.'),
  noWatch: 'get all: -w follows one kind; use capstan get KIND -w',
  noName: (kinds: readonly string[], name: string) => `get ${kinds.join(',')} lists every object of those kinds: give one kind to show "${name}" (capstan get ${kinds[0]!.toLowerCase()} ${name})`,
} as const;

export async function runGetAll(ctx: CommandContext, options: GetOptions, kinds: readonly string[] = ALL_KINDS): Promise<number> {
  if (options.watch) throw usageError(say.noWatch);
  if (options.name !== undefined) throw usageError(say.noName(kinds, options.name));
  const selector = options.selector !== undefined ? parseSelector(options.selector) : undefined;
  const { store, registry } = await ctx.session();
  const namespace = options.allNamespaces ? undefined : ctx.config.namespace;
  const groups = await Promise.all(
    kinds.map(async (kind) => {
      const definition = registry.get(kind);
      const { items } = await store.list(definition.kind, { namespace: definition.namespaced ? namespace : undefined, labelSelector: selector });
      return { definition, objects: sortObjects(items) };
    }),
  );
  const found = groups.filter((group) => group.objects.length > 0);
  if (found.length === 0) {
    ctx.io.stderr.write(`${say.noResources(namespace)}\n`);
    return EXIT.ok;
  }
  if (options.output === 'json' || options.output === 'yaml') {
    const list = { apiVersion: API_VERSION, kind: 'List', items: found.flatMap((group) => group.objects) as AnyObject[] };
    ctx.io.stdout.write(options.output === 'json' ? `${JSON.stringify(list, null, 2)}\n` : stringify(list));
    return EXIT.ok;
  }
  if (options.output === 'name') {
    ctx.io.stdout.write(found.map(({ definition, objects }) => namesOf(definition, objects)).join(''));
    return EXIT.ok;
  }
  const nameColumn = options.allNamespaces ? 1 : 0;
  const tables = found.map(({ definition, objects }) => {
    const table = tableOf(definition, { wide: options.output === 'wide', allNamespaces: options.allNamespaces });
    const rows = objects.map((object) => {
      const row = table.row(object);
      row[nameColumn] = `${definition.singular}/${row[nameColumn]}`;
      return row;
    });
    return formatTable([table.header(ctx.io.color), ...rows]);
  });
  ctx.io.stdout.write(tables.join('\n'));
  return EXIT.ok;
}
