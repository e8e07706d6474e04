// `capstan events [-w] [--type T]... [-o line|json]`: Marathon's event stream in the terminal, the
// events GET /v2/events sends, derived here from the store with the same EventHub
// (api/marathon/events.ts): no API server is needed. (`capstan get events` lists Capstan's own Event
// objects, the reasons controllers record; this is Marathon's bus.)
//
// Marathon's bus has no history, so without -w the command tells the current state as events, as
// `kubectl get` lists what is there now: each App's definition (api_post_event), its deployment in
// progress (deployment_info), each task's state (status_update_event, instance_changed_event) and
// health. With -w it then follows what happens until Ctrl-C, as `kubectl get -w` does.
import { Command, Option } from 'commander';
import type { MarathonEvent } from '../api/marathon/events.ts';
import { collect, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { EXIT } from './errors.ts';

export type EventsOutput = 'line' | 'json';

export interface EventsOptions {
  watch: boolean;
  /** Only these event types; all when empty. */
  types: readonly string[];
  output: EventsOutput;
}

const say = {
  description:
    "Print Marathon's event stream (what GET /v2/events sends), derived from the store: without -w the current state told as events " +
    '(each App, its deployment in progress, each task), then with -w every event as it happens until Ctrl-C',
  watch: 'after the current state, follow events as they happen until Ctrl-C',
  type: 'only events of this type, e.g. status_update_event, deployment_info (repeatable)',
  output: 'line: time, type, app, task and a summary per line; json: each event as /v2/events sends its data, one per line',
  following: '# following events as they happen; Ctrl-C to stop',
} as const;

export function eventsCommand(act: Act): Command {
  return new Command('events')
    .description(say.description)
    .option('-w, --watch', say.watch, false)
    .option('--type <type>', say.type, collect, [])
    .addOption(new Option('-o, --output <format>', say.output).choices(['line', 'json']).default('line'))
    .action(
      act(async (ctx, options: { watch: boolean; type: string[]; output: EventsOutput }) =>
        runEvents(ctx, { watch: options.watch, types: options.type, output: options.output }),
      ),
    );
}

export async function runEvents(ctx: CommandContext, options: EventsOptions): Promise<number> {
  // Taken before any await: Ctrl-C while following ends the command, not the process mid-write.
  const interrupted = options.watch ? ctx.untilInterrupted() : undefined;
  const [{ InformerFactory }, { EventHub }] = await Promise.all([import('../api/informer.ts'), import('../api/marathon/events.ts')]);
  const { store } = await ctx.session();
  const informers = new InformerFactory(store);
  const hub = new EventHub({ informers });
  const wanted = (event: MarathonEvent) => options.types.length === 0 || options.types.includes(event.eventType);
  const print = (event: MarathonEvent) => {
    if (wanted(event)) ctx.io.stdout.write(`${options.output === 'json' ? JSON.stringify(event) : formatEventLine(event)}\n`);
  };
  try {
    // Subscribed before start, so nothing falls between the state told and the first event followed;
    // what arrives before the state is told waits for it, so the output reads in order.
    const early: MarathonEvent[] = [];
    let told = false;
    const subscription = options.watch ? hub.events$.subscribe((event) => (told ? print(event) : early.push(event))) : undefined;
    await hub.start();
    hub.snapshot().forEach(print);
    early.forEach(print);
    told = true;
    if (interrupted) {
      // On stderr, so stdout stays the events alone.
      ctx.io.stderr.write(`${say.following}\n`);
      await interrupted;
    }
    subscription?.unsubscribe();
  } finally {
    await hub.stop();
    await informers.stop();
  }
  return EXIT.ok;
}

/** One event as a line: time, type, the app (or group), the task (or deployment) and what happened. */
export function formatEventLine(event: MarathonEvent): string {
  const subject = String(event['appId'] ?? event['runSpecId'] ?? event['groupId'] ?? appOfUri(event['uri']) ?? appOfPlan(event['plan']) ?? '-');
  const object = String(event['taskId'] ?? event['instanceId'] ?? event['id'] ?? planId(event['plan']) ?? '-');
  return [event.timestamp, event.eventType, subject, object, summaryOf(event)].join('  ').trimEnd();
}

function summaryOf(event: MarathonEvent): string {
  switch (event.eventType) {
    case 'status_update_event': {
      const ports = Array.isArray(event['ports']) && event['ports'].length > 0 ? `:${event['ports'].join(',')}` : '';
      const where = event['host'] ? ` on ${String(event['host'])}${ports}` : '';
      return `${String(event['taskStatus'])}${where}${event['message'] ? ` (${String(event['message'])})` : ''}`;
    }
    case 'instance_changed_event':
      return String(event['condition']);
    case 'health_status_changed_event':
      return event['alive'] ? 'healthy' : 'unhealthy';
    case 'unhealthy_task_kill_event':
      return `killed: ${String(event['reason'])}`;
    case 'api_post_event': {
      const definition = event['appDefinition'] as { instances?: number } | undefined;
      return `app definition posted${definition?.instances !== undefined ? ` (instances ${definition.instances})` : ''}`;
    }
    case 'deployment_info':
    case 'deployment_step_success':
    case 'deployment_step_failure':
      return actionsOf(event['currentStep']);
    case 'group_change_success':
      return `version ${String(event['version'])}`;
    case 'event_stream_detached':
      return String(event['message'] ?? '');
    default:
      return '';
  }
}

function actionsOf(step: unknown): string {
  const actions = (step as { actions?: { action?: string; app?: string; pod?: string }[] } | undefined)?.actions ?? [];
  return actions.map((a) => `${a.action ?? '?'} ${a.app ?? a.pod ?? ''}`.trim()).join(', ');
}

function appOfUri(uri: unknown): string | undefined {
  return typeof uri === 'string' ? uri.replace(/^\/v2\/(apps|pods)/, '') : undefined;
}

function appOfPlan(plan: unknown): string | undefined {
  const step = (plan as { steps?: { actions?: { app?: string; pod?: string }[] }[] } | undefined)?.steps?.[0]?.actions?.[0];
  return step?.app ?? step?.pod;
}

function planId(plan: unknown): string | undefined {
  return (plan as { id?: string } | undefined)?.id;
}
