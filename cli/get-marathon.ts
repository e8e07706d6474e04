// `capstan get apps -o marathon`: Apps as Marathon's API shows them, each with its tasks, as
// GET /v2/apps?embed=apps.tasks answers ({"apps": [...]}, and the Apps made from pods under "pods");
// one named App prints as its own definition. Either applies again with `capstan apply -f`.
import { appToMarathon } from '../api/marathon/app.ts';
import { marathonIdOf } from '../api/marathon/ids.ts';
import { isMarathonPod, podToMarathon } from '../api/marathon/pod.ts';
import type { KindDefinition } from '../api/kinds/registry.ts';
import type { Selector } from '../api/labels.ts';
import type { AnyObject, DeepReadonly } from '../api/object.ts';
import { objectNotFound } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, EXIT, usageError } from './errors.ts';

const say = {
  appsOnly: (plural: string) => `-o marathon prints Apps as Marathon JSON: use it with \`get apps\`, not \`get ${plural}\``,
} as const;

const EMBED_TASKS: ReadonlySet<string> = new Set(['apps.tasks']);

export interface GetMarathonOptions {
  definition: KindDefinition;
  wanted: (object: DeepReadonly<AnyObject>) => boolean;
  namespace: string | undefined;
  selector: Selector | undefined;
  name: string | undefined;
}

export async function runGetMarathon(ctx: CommandContext, options: GetMarathonOptions): Promise<number> {
  if (options.definition.kind !== 'App') throw usageError(say.appsOnly(options.definition.plural));
  const session = await ctx.session();
  const [apps, tasks, nodes] = await Promise.all([
    session.store.list('App', { namespace: options.namespace, labelSelector: options.selector }),
    session.store.list('Task', { namespace: options.namespace }),
    session.store.list('Node'),
  ]);
  const wanted = apps.items.filter(options.wanted).sort((a, b) => compare(marathonIdOf(a), marathonIdOf(b)));
  if (options.name !== undefined && wanted.length === 0) throw new CliError(objectNotFound(options.definition, options.name, options.namespace));

  const nodeByName = new Map(nodes.items.map((node) => [node.metadata.name, node]));
  const tasksOf = (app: AnyObject) =>
    tasks.items.filter((task) => task.metadata.namespace === app.metadata.namespace && (task.spec as { app?: string }).app === app.metadata.name);
  const toMarathon = (app: AnyObject) =>
    isMarathonPod(app) ? podToMarathon(app) : appToMarathon(app, { tasks: tasksOf(app), nodes: (name) => nodeByName.get(name), embed: EMBED_TASKS });

  if (options.name !== undefined) {
    ctx.io.stdout.write(`${JSON.stringify(toMarathon(wanted[0]!), null, 2)}\n`);
    return EXIT.ok;
  }
  const pods = wanted.filter((app) => isMarathonPod(app));
  const list = { apps: wanted.filter((app) => !isMarathonPod(app)).map(toMarathon), ...(pods.length > 0 ? { pods: pods.map(toMarathon) } : {}) };
  ctx.io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
  return EXIT.ok;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
