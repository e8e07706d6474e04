// `capstan logs TASK [-f] [--container NAME]`: a task's output, from the agent of the node it is bound
// to (the Node's status.agentEndpoint). The store holds no logs; the agent reads them from its driver.
import { request, type IncomingMessage } from 'node:http';
import { Command } from 'commander';
import type { NodeStatus } from '../api/kinds/node.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import type { CapstanObject } from '../api/object.ts';
import type { Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, EXIT } from './errors.ts';

export interface LogsOptions {
  task: string;
  follow: boolean;
  container?: string;
}

const say = {
  noTask: (ns: string, name: string) => `task "${name}" not found in namespace "${ns}" (list them with \`capstan get tasks -n ${ns}\`)`,
  unbound: (name: string, phase: string) => `task "${name}" is not bound to a node yet (phase ${phase}): it has no logs`,
  noAgent: (node: string) => `node "${node}" has no agent endpoint: is \`capstan agent --node ${node}\` running?`,
  unreachable: (node: string, endpoint: string, reason: string) => `cannot reach the agent of node "${node}" at ${endpoint} (${reason})`,
  refused: (node: string, status: number, body: string) => `the agent of node "${node}" answered ${status}: ${body.trim()}`,
};

export function logsCommand(act: Act): Command {
  return new Command('logs')
    .description('Print the output of a task (stdout and stderr), from the agent of its node')
    .argument('<task>', 'the Task\'s name (see `capstan get tasks`)')
    .option('-f, --follow', 'keep printing new output until the task exits or Ctrl-C', false)
    .option('-c, --container <name>', 'the container of a pod (default: the first)')
    .action(
      act(async (ctx, task: string, options: { follow: boolean; container?: string }) =>
        runLogs(ctx, { task, follow: options.follow, ...(options.container ? { container: options.container } : {}) }),
      ),
    );
}

export async function runLogs(ctx: CommandContext, options: LogsOptions): Promise<number> {
  // Taken before any await: a Ctrl-C during a follow ends the stream, not the process mid-write.
  const interrupted = options.follow ? ctx.untilInterrupted() : new Promise<void>(() => undefined);
  const { store } = await ctx.session();
  const namespace = ctx.config.namespace;
  const task = await store.get<CapstanObject<TaskSpec, TaskStatus>>('Task', { namespace, name: options.task });
  if (!task) throw new CliError(say.noTask(namespace, options.task));
  const nodeName = task.spec.nodeName;
  if (!nodeName) throw new CliError(say.unbound(options.task, task.status?.phase ?? 'Pending'));
  const node = await store.get<CapstanObject<unknown, NodeStatus>>('Node', { name: nodeName });
  const endpoint = node?.status?.agentEndpoint;
  if (!endpoint) throw new CliError(say.noAgent(nodeName));

  const url = new URL(`/tasks/${encodeURIComponent(namespace)}/${encodeURIComponent(options.task)}/logs`, endpoint);
  if (options.follow) url.searchParams.set('follow', '1');
  if (options.container) url.searchParams.set('container', options.container);
  const response = await get(url).catch((error: Error) => {
    throw new CliError(say.unreachable(nodeName, endpoint, error.message));
  });
  if (response.statusCode !== 200) throw new CliError(say.refused(nodeName, response.statusCode ?? 0, await text(response)));
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

function get(url: URL): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET' }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function text(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
