// Which Apps a load balancer routes, and what it tells them: each App's services as marathon-lb's
// rules read its labels and fields (services.ts), kept after the App is deleted until its Endpoints
// go (so its last tasks drain through the runtime API); Apps left out because `haproxy -c` refused
// their part, until they change; the LoadBalanced condition and the Events that say so.
import type { EventRecorder } from '../../api/events.ts';
import { isStoreError } from '../../api/errors.ts';
import type { AppSpec } from '../../api/kinds/app.ts';
import type { EndpointsSpec } from '../../api/kinds/endpoints.ts';
import { LOAD_BALANCED_CONDITION } from '../../api/kinds/wellknown.ts';
import { setCondition, type AnyObject, type CapstanObject, type DeepReadonly } from '../../api/object.ts';
import { readModifyWrite } from '../../api/read-modify-write.ts';
import type { Store } from '../../api/store.ts';
import type { Logger } from 'pino';
import type { LbService } from './model.ts';
import { servicesOf, type LbServiceSpec } from './services.ts';

const messages = {
  rejected: (lb: string, said: string) => `load balancer ${lb} left this App out: haproxy -c said: ${said}`,
  accepted: (lb: string) => `load balancer ${lb} routes this App`,
};

const CONDITION_ATTEMPTS = 5;

export interface AdmissionOptions {
  store: Store;
  /** The load balancer's name, in what the Apps are told. */
  name: string;
  groups: string[];
  events: EventRecorder;
  log: Logger;
  /** The App as the load balancer's informer holds it now. */
  appOf(appKey: string): DeepReadonly<AnyObject> | undefined;
}

type App = DeepReadonly<CapstanObject<AppSpec>>;

export class Admission {
  /** The services each App last had, by App key: kept after the App is gone, until its Endpoints are. */
  private readonly lastServices = new Map<string, LbServiceSpec[]>();
  /** Apps left out, with what they said when they failed (labels and spec): tried again once that changes. */
  private readonly excluded = new Map<string, string>();
  /** Apps this load balancer marked LoadBalanced=False: marked True again once it routes them. */
  private readonly rejected = new Set<string>();
  private readonly problemsSaid = new Map<string, string>();

  constructor(private readonly options: AdmissionOptions) {}

  /** The App's services, with its Endpoints' service ports; none while it stays excluded. */
  services(appKey: string, app: App | undefined, endpoints: DeepReadonly<EndpointsSpec>): LbServiceSpec[] {
    if (!app || app.metadata.deletionTimestamp) return this.lastServices.get(appKey) ?? [];
    const excluded = this.excluded.get(appKey);
    if (excluded === fingerprint(app)) return [];
    if (excluded !== undefined) this.excluded.delete(appKey);
    const servicePorts = app.spec.ports.map((_, index) => endpoints.ports.find((p) => p.index === index)?.servicePort);
    const { services, problems } = servicesOf({ app, servicePorts, groups: this.options.groups });
    this.lastServices.set(appKey, services);
    const said = problems.join('\n');
    if (said !== (this.problemsSaid.get(appKey) ?? '')) {
      this.problemsSaid.set(appKey, said);
      for (const message of problems) void this.options.events.record(app, { type: 'Warning', reason: 'LoadBalancerSettings', message });
    }
    return services;
  }

  /** `haproxy -c` refused the App's part: left out until it changes, and told so. */
  async exclude(appKey: string, app: DeepReadonly<AnyObject> | undefined, said: string): Promise<void> {
    this.excluded.set(appKey, app ? fingerprint(app) : '');
    this.options.log.warn({ app: appKey, error: said }, 'App left out of the load balancer');
    if (!app) return;
    await this.setLoadBalanced(app, { status: 'False', reason: 'ConfigRejected', message: messages.rejected(this.options.name, said) });
    this.rejected.add(appKey);
  }

  /** The services of a configuration that passed the check: Apps rejected before are told they are routed again. */
  async accepted(services: readonly LbService[]): Promise<void> {
    for (const appKey of new Set(services.map((s) => `${s.namespace}/${s.app}`))) {
      const app = this.rejected.has(appKey) ? this.options.appOf(appKey) : undefined;
      if (!app) continue;
      await this.setLoadBalanced(app, { status: 'True', reason: 'Accepted', message: messages.accepted(this.options.name) });
      this.rejected.delete(appKey);
    }
  }

  /** The App's Endpoints are gone: nothing of it is kept. */
  forget(appKey: string): void {
    this.lastServices.delete(appKey);
    this.problemsSaid.delete(appKey);
  }

  private async setLoadBalanced(app: DeepReadonly<AnyObject>, condition: { status: 'True' | 'False'; reason: string; message: string }): Promise<void> {
    if (condition.status === 'False') await this.options.events.record(app, { type: 'Warning', reason: 'LoadBalancerConfigRejected', message: condition.message });
    const { namespace, name } = app.metadata;
    try {
      await readModifyWrite<AnyObject>({
        store: this.options.store,
        kind: 'App',
        ref: { namespace, name },
        write: 'updateStatus',
        change: (current) => {
          const status = (current.status ?? {}) as { conditions?: [] };
          return { ...current, status: { ...status, conditions: setCondition(status.conditions, { type: LOAD_BALANCED_CONDITION, ...condition }) } };
        },
        attempts: CONDITION_ATTEMPTS,
      });
    } catch (error) {
      // The sync goes on without the condition rather than failing over it: what HAProxy routes is
      // already decided, and a rejection's Event is recorded above.
      if (!isStoreError(error, 'Conflict')) throw error;
      this.options.log.warn({ app: `${namespace}/${name}`, error: error.message }, 'LoadBalanced condition not written');
    }
  }
}

/** What an App says that the load balancer reads: a change to it deserves another try after a rejection. */
function fingerprint(app: DeepReadonly<AnyObject>): string {
  return JSON.stringify([app.metadata.labels ?? {}, app.spec]);
}
