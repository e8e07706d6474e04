// The probes of one task: which of its checks a prober runs, against what, and how a raw answer
// becomes a verdict. The health controller takes the network checks (HTTP, HTTPS, TCP and every
// readiness check), the task's node agent the COMMAND checks (they run inside the container).
import { healthCheckContainer, type HealthCheck, type ReadinessCheck } from '../../api/kinds/app.ts';
import type { TaskSpec, TaskStatus } from '../../api/kinds/task.ts';
import type { CapstanObject, DeepReadonly } from '../../api/object.ts';
import type { ExecResult } from '../driver.ts';
import { initialHealth, messages } from './fold.ts';
import type { PlannedProbe, TaskProbes, Verdict } from './loops.ts';
import type { HttpAnswer, NetworkProber } from './network.ts';
import { hostPortOf } from './target.ts';

export type ProbedTask = DeepReadonly<CapstanObject<TaskSpec, TaskStatus>>;

/** Probed: Running on a node and not being deleted. Checks start once the agent says it runs. */
export function isProbed(task: ProbedTask): boolean {
  return task.status?.phase === 'Running' && task.spec.nodeName !== undefined && !task.metadata.deletionTimestamp;
}

/** HTTP health: 200–399 passes (Marathon). */
export const httpHealthy = (status: number) => status >= 200 && status < 400;

function httpVerdict(answer: HttpAnswer, passes: (status: number) => boolean): Verdict {
  if (answer.kind === 'aborted') return undefined;
  if (answer.kind === 'error') return { ok: false, text: answer.cause };
  return { ok: passes(answer.status), text: `HTTP ${answer.status}` };
}

const seconds = (s: number) => s * 1000;

function originOf(task: ProbedTask, delaySeconds: number, now: number): number {
  const started = task.status?.startedAt ? Date.parse(task.status.startedAt) : now;
  return started + seconds(delaySeconds);
}

function base(task: ProbedTask, probes: PlannedProbe[], extra: unknown): TaskProbes | undefined {
  if (probes.length === 0) return undefined;
  const { healthChecks, readinessChecks } = task.spec.template;
  const plan: TaskProbes = {
    uid: task.metadata.uid!,
    fingerprint: JSON.stringify({ healthChecks, readinessChecks, startedAt: task.status?.startedAt, hostPorts: task.spec.hostPorts, extra }),
    healthChecks,
    readinessChecks,
    probes,
    // Only this prober's own checks: the other prober's results in the store are not ours to write.
    initial: new Map(probes.filter((p) => p.kind === 'health').map((p) => [p.index, initialHealth(task.status, p.index)])),
  };
  if (task.status?.startedAt) plan.startedAt = task.status.startedAt;
  return plan;
}

/** The HTTP, HTTPS and TCP health checks and the readiness checks of a task on a node at `address`. */
export function networkProbes(task: ProbedTask, address: string, prober: NetworkProber, now = Date.now()): TaskProbes | undefined {
  const { template, hostPorts = [] } = task.spec;
  const probes: PlannedProbe[] = [];
  template.healthChecks.forEach((check, index) => {
    if (check.protocol === 'COMMAND') return;
    const timeoutMs = seconds(check.timeoutSeconds);
    const target = hostPortOf(check, template, hostPorts);
    const run = networkRun(check, target, address, timeoutMs, prober);
    probes.push({ kind: 'health', index, originMs: originOf(task, check.delaySeconds, now), intervalMs: seconds(check.intervalSeconds), run });
  });
  template.readinessChecks.forEach((check, index) => {
    const timeoutMs = seconds(check.timeoutSeconds);
    const target = hostPortOf(check, template, hostPorts);
    const run = readinessRun(check, target, address, timeoutMs, prober);
    probes.push({ kind: 'readiness', index, originMs: originOf(task, 0, now), intervalMs: seconds(check.intervalSeconds), run });
  });
  return base(task, probes, address);
}

type Target = ReturnType<typeof hostPortOf>;

type NetworkCheck = DeepReadonly<Exclude<HealthCheck, { protocol: 'COMMAND' }>>;

function networkRun(check: NetworkCheck, target: Target, host: string, timeoutMs: number, prober: NetworkProber): PlannedProbe['run'] {
  if ('problem' in target) return async () => ({ ok: false, text: target.problem });
  const { port } = target;
  if (check.protocol === 'TCP') {
    return async (signal) => {
      const answer = await prober.tcp({ host, port, timeoutMs }, signal);
      if (answer.kind === 'aborted') return undefined;
      return answer.kind === 'connected' ? { ok: true, text: `connected to ${host}:${port}` } : { ok: false, text: answer.cause };
    };
  }
  const http = { protocol: check.protocol, host, port, path: check.path, timeoutMs };
  return async (signal) => httpVerdict(await prober.http(http, signal), httpHealthy);
}

function readinessRun(check: DeepReadonly<ReadinessCheck>, target: Target, host: string, timeoutMs: number, prober: NetworkProber): PlannedProbe['run'] {
  if ('problem' in target) return async () => ({ ok: false, text: target.problem });
  const http = { protocol: check.protocol, host, port: target.port, path: check.path, timeoutMs };
  return async (signal) => httpVerdict(await prober.http(http, signal), (status) => check.httpStatusCodesForReady.includes(status));
}

/** Runs `/bin/sh -c command` in (docker) or beside (process) one of the task's containers (Driver.exec). */
export type Exec = (command: string, timeoutMs: number, container: string) => Promise<ExecResult>;

/**
 * The COMMAND health checks of a task, each run in the container it names (healthCheckContainer:
 * the template's first when it names none), inside it or in its sandbox.
 */
export function commandProbes(task: ProbedTask, exec: Exec, now = Date.now()): TaskProbes | undefined {
  const probes: PlannedProbe[] = [];
  const { template } = task.spec;
  template.healthChecks.forEach((check, index) => {
    if (check.protocol !== 'COMMAND') return;
    const timeoutMs = seconds(check.timeoutSeconds);
    // The App's check makes sure the container exists; the first one stands in if a stored spec says otherwise.
    const container = (healthCheckContainer(template, check) ?? template.containers[0]!).name;
    const run = async (signal: AbortSignal): Promise<Verdict> => {
      const result = await Promise.resolve()
        .then(() => exec(check.command, timeoutMs, container))
        .catch((error: Error) => ({ status: 'error' as const, message: error.message }));
      if (signal.aborted) return undefined;
      return commandVerdict(result, timeoutMs);
    };
    probes.push({ kind: 'health', index, originMs: originOf(task, check.delaySeconds, now), intervalMs: seconds(check.intervalSeconds), run });
  });
  return base(task, probes, 'command');
}

export function commandVerdict(result: ExecResult | { status: 'error'; message: string }, timeoutMs: number): NonNullable<Verdict> {
  if (result.status === 'error') return { ok: false, text: result.message };
  if (result.status === 'timedOut') return { ok: false, text: messages.timedOut(timeoutMs) };
  if (result.exitCode === 0) return { ok: true, text: 'exit 0' };
  const output = result.output.trim().slice(-200);
  return { ok: false, text: `exit ${result.exitCode}${output ? `: ${output}` : ''}` };
}
