// `capstan get`: objects of one kind as a table (the kind's columns), YAML or JSON; -w keeps
// printing a row per change, fed by an informer (by the leased events prefix for events: cli/events.ts).
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import type { KindDefinition } from '../api/kinds/registry.ts';
import { matches, parseSelector, type Selector } from '../api/labels.ts';
import { API_VERSION, type AnyObject, type DeepReadonly } from '../api/object.ts';
import { objectNotFound, splitKindName, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { followEvents, informerFeed, listEvents, sortEvents } from './events.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import { columnWidths, formatAge, formatRow, formatTable, palette } from './io.ts';

export type OutputFormat = 'table' | 'wide' | 'yaml' | 'json' | 'name' | 'marathon';

export interface GetOptions {
  kind: string;
  name?: string;
  allNamespaces: boolean;
  selector?: string;
  output: OutputFormat;
  watch: boolean;
}

const say = {
  noResources: (namespace: string | undefined) => (namespace ? `No resources found in ${namespace} namespace.` : 'No resources found.'),
  watchNeedsTable: '-w prints rows: use it with -o table or -o wide',
  marathonNeedsApps: '-o marathon prints Apps as Marathon JSON: use it with `get apps` (or `get app NAME`), not several kinds',
} as const;

export function getCommand(act: Act): Command {
  return new Command('get')
    .description('List objects of a kind (by name, plural or short name), or show one')
    .argument('<kind>', 'kind, plural or short name: app, apps, tasks, nodes, ... (or kind/name); all: Apps, Revisions, Tasks and Endpoints')
    .argument('[name]', 'one object')
    .option('-A, --all-namespaces', 'all namespaces', false)
    .option('-l, --selector <selector>', 'label selector: a=b, a!=b, a in (x,y), a, !a')
    .addOption(
      new Option('-o, --output <format>', 'output format (name: kind/name per line, for scripts; marathon: Apps as Marathon JSON with their tasks, as GET /v2/apps?embed=apps.tasks)')
        .choices(['table', 'wide', 'yaml', 'json', 'name', 'marathon'])
        .default('table'),
    )
    .option('-w, --watch', 'after the table, print a row for every change until interrupted', false)
    .action(
      act(async (ctx, kindArg: string, nameArg: string | undefined, options: { allNamespaces: boolean; selector?: string; output: OutputFormat; watch: boolean }) => {
        const [kind, name] = splitKindName(kindArg, nameArg);
        return runGet(ctx, { kind, name, allNamespaces: options.allNamespaces, selector: options.selector, output: options.output, watch: options.watch });
      }),
    );
}

export async function runGet(ctx: CommandContext, options: GetOptions): Promise<number> {
  if (options.output === 'marathon' && (options.kind === 'all' || options.kind.includes(','))) throw usageError(say.marathonNeedsApps);
  if (options.kind === 'all') return (await import('./get-all.ts')).runGetAll(ctx, options);
  if (options.kind.includes(',')) return (await import('./get-all.ts')).runGetAll(ctx, options, options.kind.split(',').filter(Boolean));
  if (options.watch && (options.output === 'yaml' || options.output === 'json' || options.output === 'name' || options.output === 'marathon')) throw usageError(say.watchNeedsTable);
  const selector = options.selector !== undefined ? parseSelector(options.selector) : undefined;
  const session = await ctx.session();
  const definition = session.registry.get(options.kind);
  const namespace = definition.namespaced && !options.allNamespaces ? ctx.config.namespace : undefined;
  const wanted = (object: DeepReadonly<AnyObject>) =>
    (namespace === undefined || object.metadata.namespace === namespace) &&
    (options.name === undefined || object.metadata.name === options.name) &&
    (!selector || matches(selector, object.metadata.labels));

  if (options.watch) return watch(ctx, { definition, wanted, allNamespaces: options.allNamespaces, wide: options.output === 'wide', namespace });
  if (options.output === 'marathon') return (await import('./get-marathon.ts')).runGetMarathon(ctx, { definition, wanted, namespace, selector, name: options.name });

  const items =
    definition.kind === 'Event'
      ? await listEvents(session.client, session.store, namespace)
      : (await session.store.list(definition.kind, { namespace, labelSelector: selector })).items;
  // Events read as a story, oldest first (kubectl's order); everything else by name.
  const objects = definition.kind === 'Event' ? sortEvents(items.filter(wanted)) : sortObjects(items.filter(wanted));
  if (options.name !== undefined && objects.length === 0) throw new CliError(objectNotFound(definition, options.name, namespace));
  if (objects.length === 0) {
    ctx.io.stderr.write(`${say.noResources(namespace)}\n`);
    return EXIT.ok;
  }
  ctx.io.stdout.write(render(objects, { definition, output: options.output, single: options.name !== undefined, allNamespaces: options.allNamespaces, color: ctx.io.color }));
  return EXIT.ok;
}

interface RenderOptions {
  definition: KindDefinition;
  output: OutputFormat;
  /** A named object prints as itself, not as a List. */
  single: boolean;
  allNamespaces: boolean;
  color: boolean;
}

export function render(objects: readonly AnyObject[], options: RenderOptions): string {
  if (options.output === 'name') return namesOf(options.definition, objects);
  if (options.output === 'json' || options.output === 'yaml') {
    const value = options.single && objects.length === 1 ? objects[0] : { apiVersion: API_VERSION, kind: 'List', items: objects };
    return options.output === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
  }
  const table = tableOf(options.definition, { wide: options.output === 'wide', allNamespaces: options.allNamespaces && options.definition.namespaced });
  const rows = [table.header(options.color), ...objects.map((o) => table.row(o))];
  return formatTable(rows);
}

/** `kind/name` per line, as kubectl's `-o name`: what `describe`, `delete` and `logs` take. */
export function namesOf(definition: KindDefinition, objects: readonly AnyObject[]): string {
  return objects.map((object) => `${definition.singular}/${object.metadata.name}\n`).join('');
}

export interface Table {
  header(color: boolean): string[];
  row(object: DeepReadonly<AnyObject> | AnyObject, now?: number): string[];
}

/** NAMESPACE (with -A), NAME, the kind's columns (wide ones only with -o wide), AGE. */
export function tableOf(definition: KindDefinition, options: { wide: boolean; allNamespaces: boolean }): Table {
  const columns = (definition.columns ?? []).filter((column) => options.wide || !column.wide);
  return {
    header: (color) => {
      const headers = [...(options.allNamespaces ? ['NAMESPACE'] : []), 'NAME', ...columns.map((c) => c.header), 'AGE'];
      return color ? headers.map(palette(true).bold) : headers;
    },
    row: (object, now = Date.now()) => [
      ...(options.allNamespaces ? [object.metadata.namespace ?? ''] : []),
      object.metadata.name,
      ...columns.map((column) => cell(() => column.value(object as AnyObject))),
      formatAge(object.metadata.creationTimestamp, now),
    ],
  };
}

// A column reading a field a controller has not written yet shows <none>, never crashes the table.
function cell(value: () => string): string {
  try {
    const text = value();
    return text === '' ? '<none>' : text;
  } catch {
    return '<none>';
  }
}

export function sortObjects<T extends { metadata: { namespace?: string; name: string } }>(objects: readonly T[]): T[] {
  const key = (o: T) => `${o.metadata.namespace ?? ''}\u0000${o.metadata.name}`;
  return [...objects].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

interface WatchOptions {
  definition: KindDefinition;
  wanted(object: DeepReadonly<AnyObject>): boolean;
  allNamespaces: boolean;
  wide: boolean;
  namespace: string | undefined;
}

async function watch(ctx: CommandContext, options: WatchOptions): Promise<number> {
  const session = await ctx.session();
  const interrupted = ctx.untilInterrupted();
  const table = tableOf(options.definition, { wide: options.wide, allNamespaces: options.allNamespaces && options.definition.namespaced });
  const header = table.header(ctx.io.color);
  // Rows that arrive before the first table is printed wait for it; later rows reuse its widths so
  // the columns stay put (wider values push, as kubectl's do).
  type Change = { type: string; object: DeepReadonly<AnyObject> };
  let widths: number[] | undefined;
  const early: Change[] = [];
  const print = (event: Change) => {
    if (!options.wanted(event.object)) return;
    if (!widths) return void early.push(event);
    const row = formatRow(table.row(event.object), widths);
    ctx.io.stdout.write(`${row}${event.type === 'deleted' ? '   (deleted)' : ''}\n`);
  };
  // Events are not stored as spec/status pairs but under their own leased prefix (cli/events.ts).
  const feed =
    options.definition.kind === 'Event'
      ? await followEvents(session.client, session.store, options.namespace, print)
      : await informerFeed(session.client, options.definition, print);
  const listed = feed.initial.filter(options.wanted);
  const initial = (options.definition.kind === 'Event' ? sortEvents(listed) : sortObjects(listed)).map((o) => table.row(o));
  widths = columnWidths([header, ...initial]);
  if (initial.length === 0) ctx.io.stderr.write(`${say.noResources(options.namespace)}\n`);
  ctx.io.stdout.write(formatTable([header, ...initial], widths));
  for (const event of early.splice(0)) print(event);
  await interrupted;
  await feed.stop();
  return EXIT.ok;
}

