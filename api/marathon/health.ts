// Health and readiness checks of a Marathon app ⇄ the App's. Capstan's node agent probes its own
// tasks, so Marathon's MESOS_HTTP, MESOS_HTTPS and MESOS_TCP (probes the Mesos agent runs) are the
// same checks as HTTP, HTTPS and TCP; the spelling written is kept in an annotation for the way back.
import type { HealthCheck, PortDefinition, ReadinessCheck } from '../kinds/app.ts';
import type { DeepReadonly } from '../object.ts';
import { checkFields } from './fields.ts';
import type { FieldRule } from './fields.ts';
import type { Translation } from './problems.ts';

const say = {
  protocol: 'one of HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS, MESOS_TCP',
  mesosFailures:
    'at least 1 for a MESOS_* check (there 0 means killed at the first failure, which Capstan writes as 1; Capstan reads 0 as Marathon\'s HTTP checks do: never killed)',
  fixedPort: (ports: number[]) =>
    ports.length ? `a fixed host port of the app (${ports.join(', ')}), or portIndex instead` : 'portIndex instead: the app has no fixed host port (requirePorts) to name by number',
  ipv6: 'IPv4: Capstan probes the node address, an IPv4 address',
};

const PROTOCOLS: Readonly<Record<string, HealthCheck['protocol']>> = {
  HTTP: 'HTTP',
  HTTPS: 'HTTPS',
  TCP: 'TCP',
  COMMAND: 'COMMAND',
  MESOS_HTTP: 'HTTP',
  MESOS_HTTPS: 'HTTPS',
  MESOS_TCP: 'TCP',
};

const HEALTH_RULES: Readonly<Record<string, FieldRule>> = {
  protocol: 'read',
  path: 'read',
  portIndex: 'read',
  port: 'read',
  command: 'read',
  gracePeriodSeconds: 'read',
  intervalSeconds: 'read',
  timeoutSeconds: 'read',
  maxConsecutiveFailures: 'read',
  ignoreHttp1xx: 'read',
  delaySeconds: 'read',
  ipProtocol: { why: say.ipv6, accepts: (v) => v === undefined || v === 'IPv4' },
};

const COMMON = ['gracePeriodSeconds', 'intervalSeconds', 'timeoutSeconds', 'maxConsecutiveFailures', 'delaySeconds'] as const;

/** The App's health checks, and the protocols as written (for MARATHON_HEALTH_PROTOCOLS_ANNOTATION). */
export function healthChecksFromMarathon(t: Translation, value: unknown, ports: readonly { hostPort: number }[]): { checks: unknown[]; protocols: string[] } {
  if (value === undefined || value === null) return { checks: [], protocols: [] };
  if (!Array.isArray(value)) {
    t.problem(['healthChecks'], 'a list of health checks', value);
    return { checks: [], protocols: [] };
  }
  const checks: unknown[] = [];
  const protocols: string[] = [];
  value.forEach((check: unknown, i) => {
    const at = ['healthChecks', i];
    if (!checkFields(t, check, at, 'health check', HEALTH_RULES)) return;
    const written = check.protocol ?? 'HTTP';
    const protocol = typeof written === 'string' ? PROTOCOLS[written] : undefined;
    if (protocol === undefined) {
      t.problem([...at, 'protocol'], say.protocol, written);
      return;
    }
    if (written !== protocol && check.maxConsecutiveFailures === 0) t.problem([...at, 'maxConsecutiveFailures'], say.mesosFailures, 0);
    const out: Record<string, unknown> = { protocol };
    const target = ['spec', 'healthChecks', checks.length];
    t.from(target, at);
    for (const field of ['protocol', 'command', 'path', 'ignoreHttp1xx', 'portIndex']) t.from([...target, field], [...at, field]);
    if (check.port !== undefined && check.port !== null) t.from([...target, 'portIndex'], [...at, 'port']);
    if (protocol === 'COMMAND') out.command = check.command;
    else {
      if (protocol !== 'TCP' && check.path !== undefined) out.path = check.path;
      if (protocol !== 'TCP' && check.ignoreHttp1xx !== undefined) out.ignoreHttp1xx = check.ignoreHttp1xx;
      const portIndex = portIndexOf(t, check, at, ports);
      if (portIndex !== undefined) out.portIndex = portIndex;
    }
    for (const field of COMMON) {
      if (check[field] === undefined) continue;
      out[field] = check[field];
      t.from([...target, field], [...at, field]);
    }
    checks.push(out);
    protocols.push(written as string);
  });
  return { checks, protocols };
}

/** Marathon's `port` names a fixed host port by number; Capstan's checks name ports by index. */
function portIndexOf(t: Translation, check: Record<string, unknown>, at: (string | number)[], ports: readonly { hostPort: number }[]): unknown {
  if (check.port === undefined || check.port === null) return check.portIndex;
  const index = ports.findIndex((p) => p.hostPort !== 0 && p.hostPort === check.port);
  if (index < 0) t.problem([...at, 'port'], say.fixedPort(ports.flatMap((p) => (p.hostPort ? [p.hostPort] : []))), check.port);
  return index < 0 ? undefined : index;
}

/** A stored health check as Marathon's GET shows it; `written` the protocol the user wrote, when it agrees. */
export function healthCheckToMarathon(check: DeepReadonly<HealthCheck>, ports: readonly DeepReadonly<PortDefinition>[], written: string | undefined): Record<string, unknown> {
  const protocol = written !== undefined && PROTOCOLS[written] === check.protocol ? written : check.protocol;
  const common = {
    gracePeriodSeconds: check.gracePeriodSeconds,
    intervalSeconds: check.intervalSeconds,
    timeoutSeconds: check.timeoutSeconds,
    maxConsecutiveFailures: check.maxConsecutiveFailures,
    delaySeconds: check.delaySeconds,
  };
  if (check.protocol === 'COMMAND') return { protocol, command: { value: check.command }, ...common };
  const named = check.portName === undefined ? -1 : ports.findIndex((p) => p.name === check.portName);
  const portIndex = named >= 0 ? named : (check.portIndex ?? 0);
  if (check.protocol === 'TCP') return { protocol, portIndex, ipProtocol: 'IPv4', ...common };
  return { protocol, path: check.path, portIndex, ipProtocol: 'IPv4', ignoreHttp1xx: check.ignoreHttp1xx, ...common };
}

const READINESS_FIELDS = ['name', 'protocol', 'path', 'portName', 'intervalSeconds', 'timeoutSeconds', 'httpStatusCodesForReady', 'preserveLastResponse'] as const;
const READINESS_RULES: Readonly<Record<string, FieldRule>> = Object.fromEntries(READINESS_FIELDS.map((f) => [f, 'read' as const]));

/** Readiness checks have the same fields in both: only unknown fields are refused here. */
export function readinessChecksFromMarathon(t: Translation, value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    t.problem(['readinessChecks'], 'a list of readiness checks', value);
    return [];
  }
  return value.flatMap((check: unknown, i) => {
    if (!checkFields(t, check, ['readinessChecks', i], 'readiness check', READINESS_RULES)) return [];
    t.from(['spec', 'readinessChecks', i], ['readinessChecks', i]);
    for (const field of Object.keys(check)) t.from(['spec', 'readinessChecks', i, field], ['readinessChecks', i, field]);
    return [{ ...check }];
  });
}

export function readinessCheckToMarathon(check: DeepReadonly<ReadinessCheck>): Record<string, unknown> {
  return Object.fromEntries(READINESS_FIELDS.map((field) => [field, check[field]]));
}
