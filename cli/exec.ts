// `capstan exec TASK [-c CONTAINER] [-i] -- CMD [ARGS...]`: runs a command in a running task, through
// the agent of its node (runtime/agent/logs-server.ts), as `kubectl exec`: in the container for the
// docker driver, in the task's sandbox with its environment for the process driver. stdout and stderr
// arrive apart and go to ours, stdin is passed with -i, and the command's exit code is ours.
import { StringDecoder } from 'node:string_decoder';
import { Command } from 'commander';
import { FRAME, frameReader } from '../runtime/agent/exec-frames.ts';
import type { Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, usageError } from './errors.ts';
import { agentOf, callAgent, resolveTask, taskUrl } from './task-agent.ts';

export interface ExecOptions {
  task: string;
  command: string[];
  container?: string;
  stdin: boolean;
}

const say = {
  needCommand: 'exec needs a command after --: capstan exec TASK [-c CONTAINER] -- CMD [ARGS...]',
  notRunning: (name: string, phase: string, message: string | undefined) =>
    `task "${name}" is not running (phase ${phase}${message ? `: ${message}` : ''}): exec needs a Running task; its output is in \`capstan logs ${name}\``,
  cutOff: (node: string) => `the connection to the agent of node "${node}" ended before the command exited: its exit code is unknown`,
} as const;

export function execCommand(act: Act): Command {
  return new Command('exec')
    .description('Run a command in a running task, through the agent of its node; exits with the command\'s exit code')
    .argument('<task>', 'a Task (see `capstan get tasks`) or an App (its newest Running task); app/NAME or task/NAME to be explicit')
    .argument('[command...]', 'after --: the command and its arguments (run without a shell)')
    .option('-c, --container <name>', 'the container of a pod (default: the first)')
    .option('-i, --stdin', 'pass stdin to the command', false)
    .action(
      act(async (ctx, task: string, command: string[], options: { container?: string; stdin: boolean }) =>
        runExec(ctx, { task, command, stdin: options.stdin, ...(options.container ? { container: options.container } : {}) }),
      ),
    );
}

export async function runExec(ctx: CommandContext, options: ExecOptions): Promise<number> {
  if (options.command.length === 0) throw usageError(say.needCommand);
  const { store } = await ctx.session();
  const task = await resolveTask(store, ctx.config.namespace, options.task, { previous: false });
  const phase = task.status?.phase ?? 'Pending';
  if (phase !== 'Running') throw new CliError(say.notRunning(task.metadata.name, phase, task.status?.message));
  const agent = await agentOf(store, task);
  const url = taskUrl(agent, task, 'exec');
  for (const word of options.command) url.searchParams.append('command', word);
  if (options.container) url.searchParams.set('container', options.container);
  if (options.stdin) url.searchParams.set('stdin', '1');
  const response = await callAgent(agent, url, { method: 'POST', ...(options.stdin ? { body: ctx.io.stdin } : {}) });

  const out = new StringDecoder('utf8');
  const err = new StringDecoder('utf8');
  let exitCode: number | undefined;
  const read = frameReader((kind, payload) => {
    if (kind === FRAME.stdout) ctx.io.stdout.write(out.write(payload));
    else if (kind === FRAME.stderr) ctx.io.stderr.write(err.write(payload));
    else if (kind === FRAME.exit) exitCode = Number(payload.toString('utf8'));
  });
  for await (const chunk of response) read(chunk as Buffer);
  ctx.io.stdout.write(out.end());
  ctx.io.stderr.write(err.end());
  if (exitCode === undefined || Number.isNaN(exitCode)) throw new CliError(say.cutOff(agent.nodeName));
  return exitCode;
}
