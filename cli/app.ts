// `capstan app reset-delay APP`: Marathon's `DELETE /v2/queue/{id}/delay`. The App's launch delay
// after failed tasks goes back to zero, so its next task launches at once.
//
// The CLI never writes status, which the controllers own: it stamps the App with an annotation
// (capstan.io/launchDelayResetAt: <time>), and the replicas controller honours each new stamp once,
// on the current revision's backoff. Metadata is not part of the template, so no revision is made and
// no task is replaced; the failures already counted stay counted.
import { Command } from 'commander';
import { LAUNCH_DELAY_RESET_ANNOTATION } from '../api/kinds/wellknown.ts';
import { resetLaunchDelay } from '../api/ops/reset-delay.ts';
import type { Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, EXIT } from './errors.ts';

export const say = {
  notFound: (ns: string, name: string) => `app "${name}" not found in namespace "${ns}"`,
  reset: (name: string, seconds: number, failures: number) =>
    `app/${name} launch delay reset (it was ${seconds} s after ${failures} failure(s) in a row); the next task launches now`,
  noDelay: (name: string) => `app/${name} launch delay reset (none was running: its tasks are not failing)`,
} as const;

export function appCommand(act: Act): Command {
  const app = new Command('app').description("Act on an App beyond its manifest (Marathon's queue)");
  app
    .command('reset-delay')
    .description(`Launch the App's next task now, ending the delay after failures (annotation ${LAUNCH_DELAY_RESET_ANNOTATION}; no new revision)`)
    .argument('<app>', 'the App')
    .action(act(async (ctx, name: string) => runResetDelay(ctx, name)));
  return app;
}

export async function runResetDelay(ctx: CommandContext, name: string): Promise<number> {
  const { store } = await ctx.session();
  const namespace = ctx.config.namespace;
  const result = await resetLaunchDelay({ store, namespace, name, now: new Date() });
  if (result.outcome === 'gone') throw new CliError(say.notFound(namespace, name));
  const delay = result.delay;
  ctx.io.stdout.write(`${delay ? say.reset(name, delay.seconds, delay.failures) : say.noDelay(name)}\n`);
  return EXIT.ok;
}
