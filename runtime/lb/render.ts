// HAProxy 2.6 configuration from load-balancer services, in marathon-lb's shape: one frontend per
// service port, a shared HTTP frontend routing virtual hosts (and paths under them), an HTTPS
// frontend routing by SNI when a certificate is given, one backend per service. Pure and
// deterministic: services are sorted, so the same input gives the same bytes and no reload.
//
// Every line a service contributes is recorded in `sections`, so a caller can map the line of a
// `haproxy -c` error back to the service and render again without it.
import { createHash } from 'node:crypto';
import type { LbConfigSection, LbRenderOptions, LbRenderedConfig, LbServer, LbService } from './model.ts';
import { serviceKey } from './model.ts';

const HTTP_FRONTEND = 'capstan_http_in';
const HTTPS_FRONTEND = 'capstan_https_in';
const STATS = 'capstan_stats';
/** marathon-lb's cookie name: sessions pinned by a marathon-lb survive a move to Capstan. */
const STICKY_COOKIE = 'mesosphere_server_id';

export function renderConfig(services: readonly LbService[], options: LbRenderOptions): LbRenderedConfig {
  const sorted = [...services].sort(byKey);
  const out = new ConfigText(sorted);
  // Shared-frontend rules in marathon-lb's order: higher backend weight first, then by key.
  const routed = sorted.filter((s) => s.mode === 'http' && s.vhosts.length > 0).sort((a, b) => b.backendWeight - a.backendWeight || byKey(a, b));

  out.add(null, head(options));
  out.add(null, stats(options));
  renderHttpFrontend(out, routed, options);
  if (options.https) renderHttpsFrontend(out, routed, options, options.https);
  for (const service of sorted) {
    out.add(service, ['', ...frontend(service, options), '', ...backend(service)]);
  }
  return out.result();
}

/** Whether `haproxy -vv` output lists the Prometheus exporter among its services. */
export function hasPrometheusExporter(versionOutput: string): boolean {
  return /^\s*Available services\s*:.*\bprometheus-exporter\b/im.test(versionOutput);
}

export function backendName(service: Pick<LbService, 'namespace' | 'app' | 'servicePort'>): string {
  return `${service.namespace}_${service.app}_${service.servicePort}`;
}

function byKey(a: LbService, b: LbService): number {
  return a.namespace.localeCompare(b.namespace, 'en') || a.app.localeCompare(b.app, 'en') || a.servicePort - b.servicePort;
}

/** Lines, and which of them each service wrote. */
class ConfigText {
  private readonly lines: string[] = [];
  private readonly sections: Map<string, [number, number][]>;

  /** Sections come out in the order of `services`, whichever part of the text each starts in. */
  constructor(services: readonly LbService[]) {
    this.sections = new Map(services.map((s) => [serviceKey(s), []]));
  }

  add(service: LbService | null, lines: readonly string[]): void {
    if (lines.length === 0) return;
    const first = this.lines.length + 1;
    this.lines.push(...lines);
    if (!service) return;
    const key = serviceKey(service);
    const ranges = this.sections.get(key) ?? [];
    const previous = ranges.at(-1);
    // Lines that follow the service's previous lines extend that range: fewer, plainer ranges.
    if (previous && previous[1] === first - 1) ranges[ranges.length - 1] = [previous[0], this.lines.length];
    else ranges.push([first, this.lines.length]);
    this.sections.set(key, ranges);
  }

  result(): LbRenderedConfig {
    const sections: LbConfigSection[] = [...this.sections].map(([key, lines]) => ({ key, lines }));
    return { text: this.lines.join('\n') + '\n', sections };
  }
}

function head(options: LbRenderOptions): string[] {
  return [
    '# Rendered by capstan lb from Apps and Endpoints: edits here are overwritten.',
    'global',
    '  master-worker',
    // No syslog daemon exists: notable events (servers up and down) go to the master's stderr.
    '  log stderr format raw local0 notice',
    // No global maxconn: HAProxy derives it from the open-files limit (about half of it). A fixed
    // figure above what the limit allows makes the master refuse to start ("Cannot raise FD limit").
    '  spread-checks 5',
    `  stats socket ${word(options.adminSocket)} mode 600 level admin expose-fd listeners`,
    '  stats timeout 30s',
    `  server-state-file ${word(options.serverStateFile)}`,
    `  hard-stop-after ${options.hardStopAfterSeconds}s`,
    // At most one old worker lingers: a worker still finishing connections when the next reload
    // comes is ended then (SIGTERM), rather than a worker per reload piling up.
    '  mworker-max-reloads 1',
    // No SO_REUSEPORT: reloads and takeovers pass the listening sockets on (expose-fd listeners), so
    // it is not needed, and without it a second HAProxy on the same port fails to start instead of
    // silently taking half of the connections.
    '  noreuseport',
    '  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets',
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  load-server-state-from-file global',
    '  option dontlognull',
    '  option redispatch',
    // On a reload the old worker closes its idle keep-alive connections after the response it is
    // sending, not under a request the client is about to send (one in 600 failed without it).
    '  option idle-close-on-response',
    '  retries 3',
    '  backlog 10000',
    '  maxconn 10000',
    // marathon-lb's _base.cfg timeouts.
    '  timeout connect 3s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout tunnel 3600s',
    '  timeout http-keep-alive 1s',
    '  timeout http-request 15s',
    '  timeout queue 30s',
    '  timeout tarpit 60s',
  ];
}

/** Stats and metrics: bound only where the options say (loopback), and never without credentials. */
function stats(options: LbRenderOptions): string[] {
  const { address, port, user, password, prometheus = true } = options.stats;
  if (user.includes(':')) throw new Error(`The stats user "${user}" contains ":", which HAProxy's "stats auth user:password" cannot express; choose a user name without it.`);
  return [
    '',
    `userlist ${STATS}`,
    `  user ${word(user)} insecure-password ${word(password)}`,
    '',
    `frontend ${STATS}`,
    `  bind ${address}:${port}`,
    '  mode http',
    // Before any use-service rule: /metrics answers only after the same check as the stats page.
    `  http-request auth realm capstan unless { http_auth(${STATS}) }`,
    ...(prometheus ? ['  http-request use-service prometheus-exporter if { path /metrics }'] : []),
    '  stats enable',
    '  stats uri /haproxy?stats',
    '  stats refresh 10s',
    `  stats auth ${word(`${user}:${password}`)}`,
  ];
}

/**
 * The shared HTTP frontend. All ACLs first, then redirects, then use_backend rules: HAProxy runs
 * redirects before use_backend whatever their order and warns when one follows a use_backend, so
 * grouping them keeps the text in the order HAProxy acts.
 */
function renderHttpFrontend(out: ConfigText, routed: readonly LbService[], options: LbRenderOptions): void {
  out.add(null, ['', `frontend ${HTTP_FRONTEND}`, `  bind ${options.bindAddress}:${options.httpPort}`, '  mode http']);
  for (const service of routed) {
    const name = backendName(service);
    out.add(service, [...service.vhosts.map((vhost) => `  acl host_${name} hdr(host) -i ${hostPatterns(vhost, options.httpPort)}`), ...pathAcl(service)]);
  }
  for (const service of routed) {
    if (service.redirectToHttps) out.add(service, [`  redirect scheme https code 301 if !{ ssl_fc } ${httpCondition(service)}`]);
  }
  for (const service of routed) {
    out.add(service, [`  use_backend ${backendName(service)} if ${httpCondition(service)}`]);
  }
}

/** SNI routing: one rule per vhost (marathon-lb's), ANDed with the path ACL when there is one. */
function renderHttpsFrontend(out: ConfigText, routed: readonly LbService[], options: LbRenderOptions, https: NonNullable<LbRenderOptions['https']>): void {
  out.add(null, ['', `frontend ${HTTPS_FRONTEND}`, `  bind ${options.bindAddress}:${https.port} ssl crt ${word(https.certificate)}`, '  mode http']);
  for (const service of routed) out.add(service, pathAcl(service));
  for (const service of routed) {
    const path = service.path !== undefined ? ` path_${backendName(service)}` : '';
    out.add(service, service.vhosts.map((vhost) => `  use_backend ${backendName(service)} if { ssl_fc_sni -i ${vhost} }${path}`));
  }
}

/** Clients send the port in Host when it is not 80: match the vhost either way. */
function hostPatterns(vhost: string, httpPort: number): string {
  return httpPort === 80 ? vhost : `${vhost} ${vhost}:${httpPort}`;
}

function pathAcl(service: LbService): string[] {
  return service.path !== undefined ? [`  acl path_${backendName(service)} path_beg ${service.path}`] : [];
}

function httpCondition(service: LbService): string {
  const name = backendName(service);
  return service.path !== undefined ? `host_${name} path_${name}` : `host_${name}`;
}

function frontend(service: LbService, options: LbRenderOptions): string[] {
  const name = backendName(service);
  return [
    `frontend ${name}`,
    `  bind ${service.bindAddr ?? options.bindAddress}:${service.bindPort ?? service.servicePort}`,
    `  mode ${service.mode}`,
    `  use_backend ${name}`,
  ];
}

function backend(service: LbService): string[] {
  const name = backendName(service);
  const http = service.mode === 'http';
  const check = service.healthCheck;
  // marathon-lb: an HTTP(S) check becomes httpchk only in http mode; in tcp mode any check is a connect.
  const httpCheck = http && check !== undefined && check.protocol !== 'TCP';
  return [
    `backend ${name}`,
    `  mode ${service.mode}`,
    `  balance ${service.balance}`,
    ...(http
      ? ['  option forwardfor', '  http-request set-header X-Forwarded-Port %[dst_port]', '  http-request add-header X-Forwarded-Proto https if { ssl_fc }']
      : []),
    ...(httpCheck ? [`  option httpchk GET ${check.path ?? '/'}`, `  timeout check ${check.timeoutSeconds}s`] : []),
    ...stickiness(service),
    ...service.servers.map((server) => serverLine(service, server)),
  ];
}

/**
 * marathon-lb's cookie in http mode. HAProxy ignores cookies in tcp mode (with a warning), where
 * marathon-lb's sticky therefore did nothing; Capstan pins tcp clients by source address instead.
 */
function stickiness(service: LbService): string[] {
  if (!service.sticky) return [];
  if (service.mode === 'http') return [`  cookie ${STICKY_COOKIE} insert indirect nocache`];
  return ['  stick-table type ip size 100k expire 30m', '  stick on src'];
}

function serverLine(service: LbService, server: LbServer): string {
  const check = service.healthCheck;
  const parts = [`  server ${server.name} ${server.address}:${server.port}`];
  // marathon-lb turns checks on for sticky backends too, so a dead server loses its sessions.
  if (check || service.sticky) parts.push('check');
  if (check) parts.push(`inter ${check.intervalSeconds}s fall ${check.maxConsecutiveFailures + 1}`);
  // The port speaks TLS (its check says HTTPS): in http mode HAProxy must too, to it and its checks.
  // Tasks present no certificate Capstan could verify.
  if (check?.protocol === 'HTTPS' && service.mode === 'http') parts.push('ssl verify none');
  if (service.sticky && service.mode === 'http') parts.push(`cookie ${cookieValue(service, server)}`);
  // Empty slots keep their check options, so enabling one through the runtime API starts its checks.
  if (server.disabled) parts.push('disabled');
  return parts.join(' ');
}

/** Opaque and stable per slot, like marathon-lb's hash of the server name. */
function cookieValue(service: LbService, server: LbServer): string {
  return createHash('sha1').update(`${backendName(service)}/${server.name}`).digest('hex').slice(0, 10);
}

/**
 * One configuration word. Plain when safe; otherwise single-quoted (no variable expansion), with
 * HAProxy's shell-like `'\''` for a quote inside. A newline cannot be expressed at all.
 */
function word(text: string): string {
  if (/[\r\n]/.test(text)) throw new Error(`The value ${JSON.stringify(text)} contains a line break, which an HAProxy configuration line cannot hold.`);
  if (/^[A-Za-z0-9_.:/@%+=,-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
