// `capstan describe`: one object for people: metadata, spec, status with its conditions as a table,
// sections of the kind's own (an App's State, Containers and Volumes: describe-app.ts; its Traffic:
// describe-traffic.ts), and the recent Events about it (newest last).
import { Command } from 'commander';
import { stringify } from 'yaml';
import type { AnyObject, Condition } from '../api/object.ts';
import { objectNotFound, splitKindName, type Act } from './command.ts';
import type { CommandContext, Session } from './context.ts';
import { listEvents, sortEvents } from './events.ts';
import { CliError, EXIT } from './errors.ts';
import { formatAge, formatTable, indent, palette } from './io.ts';

const MAX_EVENTS = 20;

export function describeCommand(act: Act): Command {
  return new Command('describe')
    .description('Show one object: metadata, spec, status conditions and recent events')
    .argument('<kind>', 'kind, plural or short name (or kind/name)')
    .argument('[name]', 'the object')
    .action(
      act(async (ctx, kindArg: string, nameArg: string | undefined) => {
        const [kind, name] = splitKindName(kindArg, nameArg);
        if (name === undefined) throw new CliError('describe needs a NAME: capstan describe KIND NAME', EXIT.usage);
        return runDescribe(ctx, { kind, name });
      }),
    );
}

export async function runDescribe(ctx: CommandContext, options: { kind: string; name: string }): Promise<number> {
  const session = await ctx.session();
  const definition = session.registry.get(options.kind);
  const namespace = definition.namespaced ? ctx.config.namespace : undefined;
  const object = await session.store.get(definition.kind, { namespace, name: options.name });
  if (!object) throw new CliError(objectNotFound(definition, options.name, namespace));
  const events = await eventsFor(session, object);
  const sections = await sectionsFor(session, object);
  ctx.io.stdout.write(describeObject(object, events, { color: ctx.io.color, sections }));
  return EXIT.ok;
}

/** A titled part of describe's text after the conditions; its body indented by two spaces. */
export interface DescribeSection {
  title: string;
  body: string;
}

/** The sections a kind adds: an App's State, Containers, Volumes and Traffic, a Node's tasks and allocated resources. Loaded on demand, as it reads the DNS and load-balancer rules. */
async function sectionsFor(session: Session, object: AnyObject): Promise<DescribeSection[]> {
  if (object.kind === 'Node') {
    const { nodeSections, tasksOnNode } = await import('./describe-node.ts');
    return nodeSections(object, await tasksOnNode(session.store, object.metadata.name));
  }
  if (object.kind !== 'App') return [];
  const { readTraffic, trafficSection } = await import('./describe-traffic.ts');
  const { appStateSection, containersSection, volumesSection } = await import('./describe-app.ts');
  const { volumesOf } = await import('./app-volumes.ts');
  const facts = await readTraffic({ client: session.client, store: session.store, app: object });
  const volumes = volumesSection(object, await volumesOf(session.store, { namespace: object.metadata.namespace!, app: object.metadata.name }));
  return [appStateSection(object), containersSection(object), ...(volumes ? [volumes] : []), { title: 'Traffic', body: trafficSection(facts) }];
}

/** The text of describe, pure: tests and other commands (rollout status, say) may reuse it. */
export function describeObject(
  object: AnyObject,
  events: AnyObject[],
  options: { color: boolean; now?: number; sections?: readonly DescribeSection[] },
): string {
  const paint = palette(options.color);
  const now = options.now ?? Date.now();
  const m = object.metadata;
  const lines: string[] = [];
  const field = (label: string, value: string) => lines.push(`${paint.bold(`${label}:`.padEnd(13))}${value}`);
  field('Name', m.name);
  if (m.namespace) field('Namespace', m.namespace);
  field('Kind', `${object.kind} (${object.apiVersion})`);
  field('Labels', keyValues(m.labels));
  field('Annotations', keyValues(m.annotations));
  field('Owner', (m.ownerReferences ?? []).map((o) => `${o.kind}/${o.name}${o.controller ? ' (controller)' : ''}`).join(', ') || '<none>');
  field('Finalizers', (m.finalizers ?? []).join(', ') || '<none>');
  field('Generation', String(m.generation ?? '<none>'));
  field('UID', m.uid ?? '<none>');
  field('Created', m.creationTimestamp ? `${m.creationTimestamp} (${formatAge(m.creationTimestamp, now)} ago)` : '<unknown>');
  if (m.deletionTimestamp) field('Deleting', `since ${m.deletionTimestamp}, waiting for finalizers`);
  lines.push(paint.bold('Spec:'), indent(stringify(object.spec ?? {})));

  const { conditions, ...status } = (object.status ?? {}) as { conditions?: Condition[] } & Record<string, unknown>;
  lines.push(paint.bold('Status:'), Object.keys(status).length ? indent(stringify(status)) : '  <none>');
  lines.push(paint.bold('Conditions:'));
  if (conditions?.length) {
    const rows = [['TYPE', 'STATUS', 'REASON', 'MESSAGE', 'AGE']];
    for (const c of conditions) rows.push([c.type, c.status, c.reason ?? '', c.message ?? '', formatAge(c.lastTransitionTime, now)]);
    lines.push(indent(formatTable(rows)));
  } else lines.push('  <none>');
  for (const section of options.sections ?? []) lines.push(paint.bold(`${section.title}:`), section.body);

  lines.push(paint.bold('Events:'));
  if (events.length) {
    const rows = [['LAST SEEN', 'TYPE', 'REASON', 'FROM', 'MESSAGE']];
    for (const e of events) {
      const spec = e.spec as EventSpecView;
      const count = spec.count && spec.count > 1 ? ` (x${spec.count})` : '';
      rows.push([formatAge(spec.lastTimestamp, now), spec.type ?? '', spec.reason ?? '', spec.source?.component ?? '', `${spec.message ?? ''}${count}`]);
    }
    lines.push(indent(formatTable(rows)));
  } else lines.push('  <none>');
  return `${lines.join('\n').replace(/\n+$/, '')}\n`;
}

interface EventSpecView {
  involvedObject?: { kind?: string; namespace?: string; name?: string; uid?: string };
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  lastTimestamp?: string;
  source?: { component?: string };
}

/** Events whose involvedObject is this object (this incarnation, when the event names a uid). */
async function eventsFor(session: Session, object: AnyObject): Promise<AnyObject[]> {
  if (object.kind === 'Event') return [];
  const items = await listEvents(session.client, session.store, object.metadata.namespace);
  const about = items.filter((event) => {
    const ref = (event.spec as EventSpecView).involvedObject;
    return (
      ref?.kind === object.kind &&
      ref.name === object.metadata.name &&
      (ref.namespace ?? undefined) === (object.metadata.namespace ?? undefined) &&
      (ref.uid === undefined || ref.uid === object.metadata.uid)
    );
  });
  return sortEvents(about).slice(-MAX_EVENTS);
}

function keyValues(record: Record<string, string> | undefined): string {
  const entries = Object.entries(record ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join('\n' + ' '.repeat(13)) : '<none>';
}
