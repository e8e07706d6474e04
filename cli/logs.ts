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
import type { Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { EXIT } from './errors.ts';
import { formatAge } from './io.ts';
import { agentOf, callAgent, finishedAt, resolveTask, taskUrl, type TaskObject } from './task-agent.ts';

export interface LogsOptions {
  /** A Task's name, or an App's (`app/NAME` to say so when a task has the same name). */
  task: string;
  follow: boolean;
  container?: string;
  previous?: boolean;
}

const say = {
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
  const task = await resolveTask(store, ctx.config.namespace, options.task, { previous: options.previous ?? false });
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

