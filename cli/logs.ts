// `capstan logs TASK|APP [-f] [-c CONTAINER] [-p]`: a task's output, from the agent of the node it is
// bound to (cli/task-agent.ts). The store holds no logs; the agent reads them from its driver, and
// keeps a terminal task's workload (and so its logs) as long as the Task object exists.
//
// An App names one of its tasks, as `kubectl logs deploy/web` names a pod: the newest Running one.
// `--previous` is what kubectl users reach for after a crash. Capstan replaces a failed task by a new
// Task rather than restarting it in place, so the previous instance is the most recently terminated
// task of the same App (other than the task named); which one is said on stderr, so stdout stays the
// log alone.
import { Command } from 'commander';
import { APP_LABEL } from '../api/kinds/wellknown.ts';
import { isTerminal } from '../api/kinds/task.ts';
import type { Store } from '../api/store.ts';
import type { Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, EXIT } from './errors.ts';
import { formatAge } from './io.ts';
import { agentOf, callAgent, readTask, taskUrl, type TaskObject } from './task-agent.ts';

export interface LogsOptions {
  /** A Task's name, or an App's (`app/NAME` to say so when a task has the same name). */
  task: string;
  follow: boolean;
  container?: string;
  previous?: boolean;
}

const say = {
  notFound: (ns: string, name: string) =>
    `no task or App named "${name}" in namespace "${ns}" (list them with \`capstan get all -n ${ns}\`)`,
  noRunning: (app: string) => `app "${app}" has no Running task: see \`capstan get tasks -l ${APP_LABEL}=${app}\`, or --previous for the last one that ended`,
  noPrevious: (app: string) =>
    `app "${app}" has no terminated task whose logs are kept: nothing previous to show (terminal tasks are kept for a bounded history)`,
  which: (task: TaskObject) =>
    `# logs of ${task.metadata.name}, ${task.status?.phase ?? 'ended'}${task.status?.message ? ` (${task.status.message})` : ''} ${formatAge(finishedAt(task))} ago`,
} as const;

export function logsCommand(act: Act): Command {
  return new Command('logs')
    .description('Print the output of a task (stdout and stderr), from the agent of its node; an App means its newest Running task')
    .argument('<task>', 'a Task (see `capstan get tasks`) or an App (its newest Running task); app/NAME or task/NAME to be explicit')
    .option('-f, --follow', 'keep printing new output until the task exits or Ctrl-C', false)
    .option('-c, --container <name>', 'the container of a pod (default: the first)')
    .option('-p, --previous', "the previous instance: the App's most recently terminated task", false)
    .action(
      act(async (ctx, task: string, options: { follow: boolean; container?: string; previous: boolean }) =>
        runLogs(ctx, { task, follow: options.follow, previous: options.previous, ...(options.container ? { container: options.container } : {}) }),
      ),
    );
}

export async function runLogs(ctx: CommandContext, options: LogsOptions): Promise<number> {
  // Taken before any await: a Ctrl-C during a follow ends the stream, not the process mid-write.
  const interrupted = options.follow ? ctx.untilInterrupted() : new Promise<void>(() => undefined);
  const { store } = await ctx.session();
  const task = await resolveTask(store, ctx.config.namespace, options.task, options.previous ?? false);
  if (options.previous) ctx.io.stderr.write(`${say.which(task)}\n`);
  const agent = await agentOf(store, task);
  const url = taskUrl(agent, task, 'logs');
  if (options.follow) url.searchParams.set('follow', '1');
  if (options.container) url.searchParams.set('container', options.container);
  const response = await callAgent(agent, url, { method: 'GET' });
  const ended = new Promise<void>((resolve) => {
    response.on('data', (chunk: Buffer) => ctx.io.stdout.write(chunk.toString('utf8')));
    response.on('end', () => resolve());
    response.on('error', () => resolve());
    response.on('close', () => resolve());
  });
  await Promise.race([ended, interrupted]);
  response.destroy();
  return EXIT.ok;
}

/** The task whose logs to print: the one named, an App's newest Running task, or with --previous the App's last terminated one. */
async function resolveTask(store: Store, namespace: string, target: string, previous: boolean): Promise<TaskObject> {
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

const finishedAt = (task: TaskObject) => task.status?.finishedAt ?? task.metadata.creationTimestamp ?? '';
const startedAt = (task: TaskObject) => task.status?.startedAt ?? task.metadata.creationTimestamp ?? '';
