// Where a task runs, for the commands that talk to its node's agent (`logs`, `exec`): the Task, the
// Node it is bound to, and the agent's endpoint from the Node's status. The store holds no logs and
// runs nothing; the agent does both. The HTTP helpers here are the client side of
// runtime/agent/logs-server.ts.
import { request, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { NodeStatus } from '../api/kinds/node.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import type { CapstanObject } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { isTerminal } from '../api/kinds/task.ts';
import { APP_LABEL } from '../api/kinds/wellknown.ts';
import { CliError } from './errors.ts';

export type TaskObject = CapstanObject<TaskSpec, TaskStatus>;

export interface TaskAgent {
  nodeName: string;
  endpoint: string;
}

const say = {
  noTask: (ns: string, name: string) => `task "${name}" not found in namespace "${ns}" (list them with \`capstan get tasks -n ${ns}\`)`,
  unbound: (name: string, phase: string) => `task "${name}" is not bound to a node yet (phase ${phase}): it has not run anywhere`,
  noAgent: (node: string) => `node "${node}" has no agent endpoint: is \`capstan agent --node ${node}\` running?`,
  unreachable: (node: string, endpoint: string, reason: string) =>
    `cannot reach the agent of node "${node}" at ${endpoint} (${reason}): is \`capstan agent --node ${node}\` running?`,
  notFound: (ns: string, name: string) =>
    `no task or App named "${name}" in namespace "${ns}" (list them with \`capstan get all -n ${ns}\`)`,
  noRunning: (app: string) => `app "${app}" has no Running task: see \`capstan get tasks -l ${APP_LABEL}=${app}\`, or --previous for the last one that ended`,
  noPrevious: (app: string) =>
    `app "${app}" has no terminated task whose logs are kept: nothing previous to show (terminal tasks are kept for a bounded history)`,
  refused: (node: string, status: number, body: string) => `${body.trim()} (said the agent of node "${node}", HTTP ${status})`,
} as const;

export async function readTask(store: Store, namespace: string, name: string): Promise<TaskObject> {
  const task = await store.get<TaskObject>('Task', { namespace, name });
  if (!task) throw new CliError(say.noTask(namespace, name));
  return task;
}

/** The agent of the node the task is bound to. */
export async function agentOf(store: Store, task: TaskObject): Promise<TaskAgent> {
  const nodeName = task.spec.nodeName;
  if (!nodeName) throw new CliError(say.unbound(task.metadata.name, task.status?.phase ?? 'Pending'));
  const node = await store.get<CapstanObject<unknown, NodeStatus>>('Node', { name: nodeName });
  const endpoint = node?.status?.agentEndpoint;
  if (!endpoint) throw new CliError(say.noAgent(nodeName));
  return { nodeName, endpoint };
}

/** `/tasks/<namespace>/<name>/<what>` on the agent. */
export function taskUrl(agent: TaskAgent, task: TaskObject, what: 'logs' | 'exec'): URL {
  const namespace = encodeURIComponent(task.metadata.namespace ?? '');
  return new URL(`/tasks/${namespace}/${encodeURIComponent(task.metadata.name)}/${what}`, agent.endpoint);
}

/**
 * Sends the request (with `body` streamed as its body, if given) and resolves with the response once
 * it is 200; anything else is the agent's sentence as a CliError, an unreachable agent one too.
 */
export async function callAgent(agent: TaskAgent, url: URL, options: { method: 'GET' | 'POST'; body?: Readable }): Promise<IncomingMessage> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, { method: options.method }, resolve);
    req.on('error', reject);
    if (options.body) options.body.pipe(req);
    else req.end();
  }).catch((error: Error) => {
    throw new CliError(say.unreachable(agent.nodeName, agent.endpoint, (error as NodeJS.ErrnoException).code ?? error.message));
  });
  if (response.statusCode === 200) return response;
  throw new CliError(say.refused(agent.nodeName, response.statusCode ?? 0, await text(response)));
}

async function text(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The task a command means (`logs`, `exec`): the Task named, or an App's newest Running task as
 * `kubectl logs deploy/web` names a pod (`app/NAME` or `task/NAME` to be explicit); with `previous`,
 * the App's most recently terminated task other than the one named.
 */
export async function resolveTask(store: Store, namespace: string, target: string, options: { previous: boolean }): Promise<TaskObject> {
  const { previous } = options;
  const slash = target.indexOf('/');
  const kind = slash < 0 ? undefined : target.slice(0, slash).toLowerCase();
  const name = slash < 0 ? target : target.slice(slash + 1);
  const isApp = kind === 'app' || kind === 'apps';
  const isTask = kind === 'task' || kind === 'tasks';
  const named = isApp ? undefined : isTask ? await readTask(store, namespace, name) : await store.get<TaskObject>('Task', { namespace, name });
  let app: string;
  if (named) {
    if (!previous) return named;
    app = named.spec.app;
  } else {
    if (!(await store.get('App', { namespace, name }))) throw new CliError(say.notFound(namespace, name));
    app = name;
  }
  const { items } = await store.list<TaskObject>('Task', { namespace });
  const tasks = items.filter((task) => task.spec.app === app && task.metadata.name !== named?.metadata.name);
  if (previous) {
    const ended = tasks.filter((task) => isTerminal(task.status?.phase)).sort((a, b) => finishedAt(b).localeCompare(finishedAt(a)));
    if (!ended[0]) throw new CliError(say.noPrevious(app));
    return ended[0];
  }
  const running = tasks.filter((task) => task.status?.phase === 'Running').sort((a, b) => startedAt(b).localeCompare(startedAt(a)));
  if (!running[0]) throw new CliError(say.noRunning(app));
  return running[0];
}

export const finishedAt = (task: TaskObject) => task.status?.finishedAt ?? task.metadata.creationTimestamp ?? '';
const startedAt = (task: TaskObject) => task.status?.startedAt ?? task.metadata.creationTimestamp ?? '';
