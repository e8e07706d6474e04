// A Marathon app's network and ports ⇄ the App's ports. Capstan runs every task on its node's
// network (dockerd runs with --bridge=none): a task listens on the host port it is given ($PORT0...).
// A BRIDGE mapping means the same only when the container listens on the host port itself
// (containerPort 0, which Marathon reads as "the host port", or containerPort equal to a fixed
// hostPort); any other mapping would have the process listen on a port nobody routes to, so it is
// refused with how to write it instead. USER / container networks (an IP per task) are refused.
import type { PortDefinition } from '../kinds/app.ts';
import type { DeepReadonly } from '../object.ts';
import { checkFields } from './fields.ts';
import type { FieldRule } from './fields.ts';
import { isRecord, isUnset } from './problems.ts';
import type { Path, Translation } from './problems.ts';

const say = {
  mapping: (i: number, containerPort: unknown) =>
    `containerPort 0 (the task then listens on $PORT${i}, its host port) or a containerPort equal to a fixed hostPort: Capstan runs every task on its node's network, with no port mapping, so a process listening on ${String(containerPort)} would not be reached at the host port`,
  network: 'HOST or BRIDGE: Capstan runs tasks on their node\'s network, with no IP address per task (USER / container networks)',
  networks: 'one network of mode "host" or "container/bridge": Capstan runs tasks on their node\'s network, with no IP address per task',
  mappingsOnHost: 'no portMappings on the host network: declare the ports as portDefinitions (a BRIDGE network takes portMappings)',
  definitionsOnBridge: 'no portDefinitions with a bridge network: its ports are the portMappings',
  protocol: 'tcp or udp: a Capstan port has one protocol (declare two ports for "udp,tcp")',
  list: 'a list',
};

const DEFINITION_RULES: Readonly<Record<string, FieldRule>> = { port: 'read', protocol: 'read', name: 'read', labels: 'read' };
const MAPPING_RULES: Readonly<Record<string, FieldRule>> = {
  containerPort: 'read',
  hostPort: 'read',
  servicePort: 'read',
  protocol: 'read',
  name: 'read',
  labels: 'read',
  networkNames: { why: 'Capstan has no container networks' },
};
const NETWORK_RULES: Readonly<Record<string, FieldRule>> = { mode: 'read', name: { why: 'Capstan has no named networks' }, labels: 'read' };

/** Marathon's default for an app on the host network that declares no ports: one, any host port. */
const DEFAULT_PORT = { port: 0, protocol: 'tcp', name: 'default' };

type Mode = 'host' | 'bridge' | undefined;

/** Which network the app asks for: the 1.5+ `networks`, else the legacy `container.docker.network`. */
function networkMode(t: Translation, app: Record<string, unknown>, docker: Record<string, unknown> | undefined): Mode {
  const networks = app.networks;
  if (!isUnset(networks)) {
    if (!Array.isArray(networks) || networks.length !== 1) {
      t.problem(['networks'], say.networks, networks);
      return undefined;
    }
    if (!checkFields(t, networks[0], ['networks', 0], 'network', NETWORK_RULES)) return undefined;
    const mode = networks[0].mode ?? 'host';
    if (mode === 'host' || mode === 'container/bridge') return mode === 'host' ? 'host' : 'bridge';
    t.problem(['networks', 0, 'mode'], say.networks, mode);
    return undefined;
  }
  const network = docker?.network;
  if (network === undefined || network === null || network === 'HOST') return 'host';
  if (network === 'BRIDGE') return 'bridge';
  t.problem(['container', 'docker', 'network'], say.network, network);
  return undefined;
}

/** The App's ports (with the Marathon path each came from), from whichever form the app uses. */
export function portsFromMarathon(t: Translation, app: Record<string, unknown>, container: Record<string, unknown> | undefined): Record<string, unknown>[] {
  const docker = isRecord(container?.docker) ? container.docker : undefined;
  const mode = networkMode(t, app, docker);
  const mappingsAt: Path = container?.portMappings !== undefined ? ['container', 'portMappings'] : ['container', 'docker', 'portMappings'];
  const mappings = container?.portMappings ?? docker?.portMappings;
  const declared = app.portDefinitions !== undefined && app.portDefinitions !== null;
  const legacy = app.ports !== undefined && app.ports !== null;
  if (mode === 'bridge') {
    if ((declared && !isUnset(app.portDefinitions)) || (legacy && !isUnset(app.ports))) t.problem([declared ? 'portDefinitions' : 'ports'], say.definitionsOnBridge, declared ? app.portDefinitions : app.ports);
    return fromMappings(t, mappings, mappingsAt);
  }
  if (!isUnset(mappings)) t.problem(mappingsAt, say.mappingsOnHost, mappings);
  const requirePorts = app.requirePorts === true;
  if (declared) return fromDefinitions(t, app.portDefinitions, ['portDefinitions'], requirePorts);
  if (legacy) return fromDefinitions(t, Array.isArray(app.ports) ? app.ports.map((port) => ({ port })) : app.ports, ['ports'], requirePorts);
  return mode === 'host' ? [portOf(DEFAULT_PORT, false)] : [];
}

function fromDefinitions(t: Translation, value: unknown, at: Path, requirePorts: boolean): Record<string, unknown>[] {
  if (!Array.isArray(value)) {
    t.problem(at, say.list, value);
    return [];
  }
  return value.flatMap((definition: unknown, i) => {
    const field = [...at, i];
    if (!checkFields(t, definition, field, 'port definition', DEFINITION_RULES)) return [];
    if (!protocolHonoured(t, definition.protocol, [...field, 'protocol'])) return [];
    traceTo(t, i, field, { port: requirePorts ? 'hostPort' : 'servicePort' });
    return [portOf(definition, requirePorts)];
  });
}

/** Marathon's `port`: the service port, and with requirePorts the host port as well. */
function portOf(definition: Record<string, unknown>, requirePorts: boolean): Record<string, unknown> {
  const port: Record<string, unknown> = {};
  if (definition.name !== undefined) port.name = definition.name;
  port.hostPort = requirePorts ? definition.port : 0;
  if (definition.port !== 0 && definition.port !== undefined) port.servicePort = definition.port;
  if (definition.protocol !== undefined) port.protocol = definition.protocol;
  if (!isUnset(definition.labels)) port.labels = definition.labels;
  return port;
}

function fromMappings(t: Translation, value: unknown, at: Path): Record<string, unknown>[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    t.problem(at, say.list, value);
    return [];
  }
  return value.flatMap((mapping: unknown, i) => {
    const field = [...at, i];
    if (!checkFields(t, mapping, field, 'port mapping', MAPPING_RULES)) return [];
    const hostPort = mapping.hostPort ?? 0;
    const containerPort = mapping.containerPort ?? 0;
    if (containerPort !== 0 && containerPort !== hostPort) {
      t.problem([...field, 'containerPort'], say.mapping(i, containerPort), containerPort);
      return [];
    }
    if (!protocolHonoured(t, mapping.protocol, [...field, 'protocol'])) return [];
    const port: Record<string, unknown> = {};
    if (mapping.name !== undefined) port.name = mapping.name;
    port.hostPort = hostPort;
    if (mapping.servicePort !== undefined && mapping.servicePort !== 0) port.servicePort = mapping.servicePort;
    if (mapping.protocol !== undefined) port.protocol = mapping.protocol;
    if (!isUnset(mapping.labels)) port.labels = mapping.labels;
    traceTo(t, i, field, {});
    return [port];
  });
}

function protocolHonoured(t: Translation, protocol: unknown, at: Path): boolean {
  if (typeof protocol === 'string' && protocol.includes(',')) {
    t.problem(at, say.protocol, protocol);
    return false;
  }
  return true;
}

/** Each Capstan port field traced to the Marathon field of the same name, or as `renamed` says. */
function traceTo(t: Translation, index: number, field: Path, renamed: Record<string, string>): void {
  t.from(['spec', 'ports', index], field);
  for (const name of ['name', 'hostPort', 'servicePort', 'protocol', 'labels']) t.from(['spec', 'ports', index, name], [...field, name]);
  for (const [from, to] of Object.entries(renamed)) t.from(['spec', 'ports', index, to], [...field, from]);
}

/**
 * The App's ports as Marathon's portDefinitions (every task is on the host network), and
 * requirePorts: true when every port is a fixed host port, which is then the `port` shown.
 */
export function portsToMarathon(ports: readonly DeepReadonly<PortDefinition>[]): { portDefinitions: Record<string, unknown>[]; requirePorts: boolean } {
  const requirePorts = ports.length > 0 && ports.every((p) => p.hostPort !== 0);
  const portDefinitions = ports.map((p) => {
    const definition: Record<string, unknown> = { port: requirePorts ? p.hostPort : (p.servicePort ?? 0), protocol: p.protocol ?? 'tcp' };
    if (p.name !== undefined) definition.name = p.name;
    definition.labels = { ...(p.labels ?? {}) };
    return definition;
  });
  return { portDefinitions, requirePorts };
}
