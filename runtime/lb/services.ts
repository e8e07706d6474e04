// Which ports of an App a load balancer routes, and how: marathon-lb's rules, read from the App's
// HAPROXY_* labels and its `loadBalancer` fields. Pure: the caller supplies the allocated service
// ports and the groups this load balancer serves; the servers come later, from Endpoints.
//
// Precedence, most specific first: HAPROXY_{n}_<FIELD>, then (for HAPROXY_GROUP only) the App-wide
// label, then spec.loadBalancer (for its portIndex only), then marathon-lb's default. Labels win over
// the fields because the fields arrive parsed and defaulted (group "external", balance "roundrobin",
// sticky false...), so a field cannot tell a value someone chose from a default, while a label is
// only there when someone wrote it. Were the fields to win, HAPROXY_GROUP on a migrated App would be
// silently overruled by a group nobody typed.
import { isIP } from 'node:net';
import type { AppSpec, HealthCheck } from '../../api/kinds/app.ts';
import type { CapstanObject, DeepReadonly } from '../../api/object.ts';
import { DEFAULT_NAMESPACE } from '../../api/object.ts';
import type { LbBalance, LbHealthCheck, LbMode, LbService } from './model.ts';

export type LbServiceSpec = Omit<LbService, 'servers'>;

export interface ServicesOfInput {
  app: DeepReadonly<CapstanObject<AppSpec>>;
  /** The service port of app port i, as allocated; undefined or 0: port i is not load balanced. */
  servicePorts: readonly (number | undefined)[];
  /** The groups this load balancer serves (marathon-lb's repeated --group); '*' serves every group. */
  groups: readonly string[];
}

export interface ServicesOfResult {
  services: LbServiceSpec[];
  /** Sentences for the App's owner: a label value not understood, or a setting that has no effect. */
  problems: string[];
}

const BALANCES: readonly LbBalance[] = ['roundrobin', 'leastconn', 'source', 'first'];
const MODES: readonly LbMode[] = ['http', 'tcp'];
const TRUE_WORDS = ['true', 't', 'yes', 'y']; // marathon-lb's string_to_bool
const FALSE_WORDS = ['false', 'f', 'no', 'n'];
const VHOST = /^[a-z0-9_]([a-z0-9_.-]*[a-z0-9])?$/;
// path_beg patterns as marathon-lb passes them on: one or more absolute paths, optionally after -i.
const PATH = /^(-i\s+)?\/\S*(\s+\/\S*)*$/;
const INTEGER = /^-?[0-9]+$/;

// What we say, in one place.
const EXPECTED = {
  mode: 'http or tcp',
  balance: BALANCES.join(', '),
  boolean: 'true or false (or t, yes, y, f, no, n as marathon-lb reads them)',
  vhost: 'host names separated by commas, e.g. "www.example.com,example.com"',
  path: 'an absolute path, or several separated by spaces, optionally after -i, e.g. "/api" or "-i /a /b"',
  bindAddr: 'an IP address or *',
  port: 'a port number from 1 to 65535',
  weight: 'an integer, e.g. 1 (higher weights are routed first)',
} as const;

const where = (app: string, index: number) => `App ${app}, port ${index}`;
const SAY = {
  invalid: (app: string, index: number, label: string, expected: string, found: string, fallback: string) =>
    `${where(app, index)}: label ${label} expected ${expected}, found "${found}"; using ${fallback} instead.`,
  vhostNeedsHttp: (app: string, index: number, modeSource: string) =>
    `${where(app, index)}: virtual hosts need mode http, but ${modeSource} says tcp; the vhost routes are left out.`,
  pathNeedsVhost: (app: string, index: number, source: string) =>
    `${where(app, index)}: ${source} has no effect without a virtual host (marathon-lb routes paths only under a vhost); set HAPROXY_${index}_VHOST or spec.loadBalancer.vhost.`,
  redirectNeedsVhost: (app: string, index: number, source: string) =>
    `${where(app, index)}: ${source} has no effect without a virtual host; set HAPROXY_${index}_VHOST or spec.loadBalancer.vhost.`,
  udp: (app: string, index: number, servicePort: number) =>
    `${where(app, index)}: service port ${servicePort} is udp, which HAProxy cannot balance; it is left out.`,
} as const;

/** A value and where it came from, so a problem can name the label or field that set it. */
interface Sourced<T> {
  value: T;
  source: string;
}

export function servicesOf({ app, servicePorts, groups }: ServicesOfInput): ServicesOfResult {
  const namespace = app.metadata.namespace ?? DEFAULT_NAMESPACE;
  const name = app.metadata.name;
  const labels = app.metadata.labels ?? {};
  const services: LbServiceSpec[] = [];
  const problems: string[] = [];
  app.spec.ports.forEach((port, index) => {
    const servicePort = servicePorts[index];
    if (!servicePort) return;
    const read = new PortSettings({ app: `${namespace}/${name}`, spec: app.spec, labels, index, problems });
    const portGroups = read.groups();
    if (!serves(groups, portGroups)) return;
    if (port.protocol === 'udp') {
      problems.push(SAY.udp(`${namespace}/${name}`, index, servicePort));
      return;
    }
    services.push({ namespace, app: name, id: `/${namespace}/${name}`, portIndex: index, servicePort, groups: portGroups, ...read.routing() });
  });
  return { services, problems };
}

/** marathon-lb's has_group: '*' on the load balancer takes every group; otherwise any shared group. */
export function serves(lbGroups: readonly string[], portGroups: readonly string[]): boolean {
  if (lbGroups.includes('*')) return true;
  return portGroups.some((group) => lbGroups.includes(group));
}

/** The first network health check of the App aimed at port `index` (marathon-lb's get_health_check). */
export function healthCheckFor(spec: DeepReadonly<AppSpec>, index: number): LbHealthCheck | undefined {
  const portName = spec.ports[index]?.name;
  const check = spec.healthChecks.find(
    (c): c is DeepReadonly<Exclude<HealthCheck, { protocol: 'COMMAND' }>> =>
      c.protocol !== 'COMMAND' && (c.portIndex === index || (c.portName !== undefined && c.portName === portName)),
  );
  if (!check) return undefined;
  const common = { intervalSeconds: check.intervalSeconds, timeoutSeconds: check.timeoutSeconds, maxConsecutiveFailures: check.maxConsecutiveFailures };
  return check.protocol === 'TCP' ? { protocol: 'TCP', ...common } : { protocol: check.protocol, path: check.path, ...common };
}

type Routing = Omit<LbServiceSpec, 'namespace' | 'app' | 'id' | 'portIndex' | 'servicePort' | 'groups'>;

/** Reads one port's settings, label over field over default, recording every value it cannot use. */
class PortSettings {
  private readonly label: (field: string) => string | undefined;
  private readonly lb: DeepReadonly<AppSpec>['loadBalancer'];

  constructor(
    private readonly at: {
      app: string;
      spec: DeepReadonly<AppSpec>;
      labels: Readonly<Record<string, string>>;
      index: number;
      problems: string[];
    },
  ) {
    this.label = (field) => at.labels[this.labelName(field)];
    // spec.loadBalancer speaks for one port only.
    this.lb = at.spec.loadBalancer?.portIndex === at.index ? at.spec.loadBalancer : undefined;
  }

  groups(): string[] {
    const perPort = this.label('GROUP');
    const text = perPort ?? this.at.labels['HAPROXY_GROUP'] ?? this.lb?.group ?? '';
    return text.split(',').map((g) => g.trim()).filter((g) => g !== '');
  }

  routing(): Routing {
    const healthCheck = healthCheckFor(this.at.spec, this.at.index);
    let vhosts = this.vhosts();
    const path = this.path();
    const mode = this.mode(vhosts.value.length > 0, healthCheck);
    const vhostsNeedHttp = mode.value === 'tcp' && vhosts.value.length > 0;
    if (vhostsNeedHttp) {
      this.at.problems.push(SAY.vhostNeedsHttp(this.at.app, this.at.index, mode.source));
      vhosts = { value: [], source: vhosts.source };
    }
    const redirectToHttps = this.flag('REDIRECT_TO_HTTPS', this.lb?.redirectToHttps ?? false, 'spec.loadBalancer.redirectToHttps');
    // One sentence per cause: with the vhosts dropped for tcp, the path and redirect go unsaid.
    if (vhosts.value.length === 0 && !vhostsNeedHttp) {
      if (path.value !== undefined) this.at.problems.push(SAY.pathNeedsVhost(this.at.app, this.at.index, path.source));
      if (redirectToHttps.value) this.at.problems.push(SAY.redirectNeedsVhost(this.at.app, this.at.index, redirectToHttps.source));
    }
    const weight = this.integer('BACKEND_WEIGHT', EXPECTED.weight, 0, (n) => Number.isSafeInteger(n));
    const bindPort = this.integer('PORT', EXPECTED.port, undefined, (n) => n >= 1 && n <= 65535);
    return {
      mode: mode.value,
      vhosts: vhosts.value,
      ...(path.value !== undefined ? { path: path.value } : {}),
      balance: this.balance(),
      sticky: this.flag('STICKY', this.lb?.sticky ?? false, 'spec.loadBalancer.sticky').value,
      redirectToHttps: redirectToHttps.value,
      ...optional('bindAddr', this.bindAddr()),
      ...optional('bindPort', bindPort),
      // marathon-lb: a path lifts the default weight 0 to 1, so path routes precede their vhost's catch-all.
      backendWeight: weight === 0 && path.value !== undefined ? 1 : (weight ?? 0),
      ...(healthCheck ? { healthCheck } : {}),
    };
  }

  private labelName(field: string): string {
    return `HAPROXY_${this.at.index}_${field}`;
  }

  private invalid(field: string, expected: string, found: string, fallback: string): void {
    this.at.problems.push(SAY.invalid(this.at.app, this.at.index, this.labelName(field), expected, found, fallback));
  }

  private vhosts(): Sourced<string[]> {
    const fromField: Sourced<string[]> = { value: (this.lb?.vhost ?? []).map((v) => v.toLowerCase()), source: 'spec.loadBalancer.vhost' };
    const text = this.label('VHOST');
    if (text === undefined) return fromField;
    // marathon-lb lowercases vhosts; the host ACL matches case-insensitively anyway.
    const names = text.split(',').map((v) => v.trim().toLowerCase()).filter((v) => v !== '');
    if (names.length === 0 || !names.every((v) => VHOST.test(v))) {
      this.invalid('VHOST', EXPECTED.vhost, text, fromField.value.length ? `"${fromField.value.join(',')}"` : 'no virtual host');
      return fromField;
    }
    return { value: names, source: this.labelName('VHOST') };
  }

  private path(): Sourced<string | undefined> {
    const fromField: Sourced<string | undefined> = { value: this.lb?.path, source: 'spec.loadBalancer.path' };
    const text = this.label('PATH');
    if (text === undefined) return fromField;
    if (!PATH.test(text.trim())) {
      this.invalid('PATH', EXPECTED.path, text, fromField.value !== undefined ? `"${fromField.value}"` : 'no path');
      return fromField;
    }
    return { value: text.trim().replace(/\s+/g, ' '), source: this.labelName('PATH') };
  }

  /**
   * HAPROXY_{n}_MODE if given, else http with a vhost or an HTTP check, else tcp (marathon-lb's rule).
   * Capstan counts an HTTPS check as HTTP too: render.ts then speaks TLS to the port.
   */
  private mode(hasVhost: boolean, healthCheck: LbHealthCheck | undefined): Sourced<LbMode> {
    const derived: LbMode = hasVhost || healthCheck?.protocol === 'HTTP' || healthCheck?.protocol === 'HTTPS' ? 'http' : 'tcp';
    const fallback: Sourced<LbMode> = this.lb?.mode
      ? { value: this.lb.mode, source: 'spec.loadBalancer.mode' }
      : { value: derived, source: 'the default' };
    const text = this.label('MODE');
    if (text === undefined) return fallback;
    const mode = MODES.find((m) => m === text.trim().toLowerCase());
    if (!mode) {
      this.invalid('MODE', EXPECTED.mode, text, fallback.value);
      return fallback;
    }
    return { value: mode, source: this.labelName('MODE') };
  }

  private balance(): LbBalance {
    const fallback = this.lb?.balance ?? 'roundrobin';
    const text = this.label('BALANCE');
    if (text === undefined) return fallback;
    const balance = BALANCES.find((b) => b === text.trim().toLowerCase());
    if (!balance) this.invalid('BALANCE', EXPECTED.balance, text, fallback);
    return balance ?? fallback;
  }

  private flag(field: string, fallback: boolean, fieldName: string): Sourced<boolean> {
    const text = this.label(field);
    if (text === undefined) return { value: fallback, source: fieldName };
    const word = text.trim().toLowerCase();
    if (TRUE_WORDS.includes(word)) return { value: true, source: this.labelName(field) };
    if (FALSE_WORDS.includes(word)) return { value: false, source: this.labelName(field) };
    this.invalid(field, EXPECTED.boolean, text, String(fallback));
    return { value: fallback, source: fieldName };
  }

  private bindAddr(): string | undefined {
    const text = this.label('BIND_ADDR');
    if (text === undefined) return undefined;
    const address = text.trim();
    if (address === '*' || isIP(address) !== 0) return address;
    this.invalid('BIND_ADDR', EXPECTED.bindAddr, text, "the load balancer's bind address");
    return undefined;
  }

  private integer<T extends number | undefined>(field: string, expected: string, fallback: T, valid: (n: number) => boolean): number | T {
    const text = this.label(field);
    if (text === undefined) return fallback;
    const n = Number(text.trim());
    if (INTEGER.test(text.trim()) && valid(n)) return n;
    this.invalid(field, expected, text, fallback === undefined ? 'the service port' : String(fallback));
    return fallback;
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
