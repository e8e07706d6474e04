// Marathon's event bus, derived from store changes (DESIGN.md "HTTP API"): the App and Task
// informers' changes go through the rules of event-rules.ts and come out as one stream of Marathon
// events. No controller publishes anything: what happened is read from what the store says, so
// the stream is the same whichever process (or crash and restart) made the change.
//
// One hub serves every subscriber of a process (each SSE client of the API, `capstan events`):
// events are derived once and handed to each subscriber synchronously, so a subscriber must not
// block; the SSE route bounds each client's buffer instead (api/http/v2/events.ts).
//
// A Task may outlive its App by a moment (a deleted App's tasks are killed after it is gone): the
// hub keeps a deleted App until its last task is gone, so those tasks' events still name it.
import { map, merge, Subject, type Observable, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import type { InformerEvent, InformerFactory } from '../informer.ts';
import { refKey, type AnyObject, type DeepReadonly } from '../object.ts';
import { DEPLOYMENT_ANNOTATION, deploymentOf, parseDeploymentStamp } from './deployments.ts';
import { appEvents, stoppedEvents, taskEvents, type Change, type EventContext, type MarathonEvent } from './event-rules.ts';

export type { MarathonEvent } from './event-rules.ts';

export interface EventHubOptions {
  informers: InformerFactory;
  log?: Logger;
  now?: () => Date;
}

type Stored = DeepReadonly<AnyObject>;

export class EventHub {
  private readonly subject = new Subject<MarathonEvent>();
  readonly events$: Observable<MarathonEvent> = this.subject.asObservable();
  private subscription: Subscription | undefined;
  /** Apps deleted while some of their tasks remain, by `namespace/name`. */
  private readonly departed = new Map<string, Stored>();

  constructor(private readonly options: EventHubOptions) {}

  /** Starts following the store (the informers are shared: starting them is idempotent). */
  async start(): Promise<void> {
    const { informers } = this.options;
    const [apps, tasks, nodes] = [informers.informer('App'), informers.informer('Task'), informers.informer('Node')];
    // Subscribed before the lists: a change between a list and its watch is not missed (a list
    // itself emits nothing, so what exists at the start is not announced as new).
    this.subscription ??= merge(
      apps.events$.pipe(map((event) => ({ kind: 'App' as const, event }))),
      tasks.events$.pipe(map((event) => ({ kind: 'Task' as const, event }))),
    ).subscribe(({ kind, event }) => this.publish(kind, event));
    await Promise.all([apps.start(), tasks.start(), nodes.start()]);
  }

  /** Stops deriving and completes `events$`; the informers stay (their factory owns them). */
  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.subject.complete();
  }

  /**
   * The current state told as events, as if every App and Task had just been created: each App's
   * definition and deployment in progress, each task's state and health. `capstan events` prints it.
   */
  snapshot(): MarathonEvent[] {
    const { informers } = this.options;
    const context = this.context();
    const apps = informers.informer('App').list().flatMap((app) => appEvents({ after: app }, context));
    const tasks = informers.informer('Task').list().flatMap((task) => taskEvents({ after: task }, context));
    // A group change tells of a write, not of a state: left out.
    return [...apps.filter((event) => event.eventType !== 'group_change_success'), ...tasks];
  }

  private publish(kind: 'App' | 'Task', event: InformerEvent): void {
    const change: Change = event.type === 'added' ? { after: event.object } : event.type === 'deleted' ? { before: event.object } : { before: event.old!, after: event.object };
    const context = this.context();
    let events: MarathonEvent[];
    try {
      events = kind === 'App' ? [...appEvents(change, context), ...this.departing(event, context)] : [...taskEvents(change, context), ...this.leaving(event, context)];
    } catch (error) {
      // A bug in a rule must not end the stream for everyone: this change goes untold, and says so.
      this.options.log?.error({ err: error, kind, key: event.key }, 'could not derive Marathon events from a change; it is left out of /v2/events');
      return;
    }
    for (const marathonEvent of events) this.subject.next(marathonEvent);
  }

  private context(): EventContext {
    const { informers } = this.options;
    const apps = informers.informer('App');
    const nodes = informers.informer('Node');
    return {
      timestamp: (this.options.now?.() ?? new Date()).toISOString(),
      app: (namespace, name) => {
        const key = refKey({ namespace, name });
        return apps.get(key) ?? this.departed.get(key);
      },
      node: (name) => nodes.get(name),
      deploymentShared: (id, app) => {
        // Only a group change's Apps share a deployment, and each carries its stamp.
        if (parseDeploymentStamp(app.metadata.annotations?.[DEPLOYMENT_ANNOTATION])?.id !== id) return false;
        const key = refKey(app.metadata);
        return apps.list().some((other) => refKey(other.metadata) !== key && parseDeploymentStamp(other.metadata.annotations?.[DEPLOYMENT_ANNOTATION])?.id === id && deploymentOf(other)?.id === id);
      },
    };
  }

  /** An App deleted: its stop deployment is over at once without tasks, else when its last task is gone. */
  private departing(event: InformerEvent, context: EventContext): MarathonEvent[] {
    if (event.type === 'added') this.departed.delete(event.key);
    if (event.type !== 'deleted') return [];
    if (this.tasksOf(event.key).length === 0) return stoppedEvents(event.object, context);
    this.departed.set(event.key, event.object);
    return [];
  }

  private leaving(event: InformerEvent, context: EventContext): MarathonEvent[] {
    const app = (event.object.spec as { app?: string }).app;
    if (event.type !== 'deleted' || !app) return [];
    const key = refKey({ namespace: event.object.metadata.namespace, name: app });
    const departed = this.departed.get(key);
    if (!departed || this.tasksOf(key).length > 0) return [];
    this.departed.delete(key);
    return stoppedEvents(departed, context);
  }

  private tasksOf(appKey: string): readonly Stored[] {
    return this.options.informers.informer('Task').byIndex('app', appKey);
  }
}
