// `capstan rollout status|history|undo|pause|resume|restart APP`, and the live wait that
// `capstan apply --wait` shares with `rollout status`.
//
// Pause and restart are annotations on the App (the rollout controller reads them):
// `capstan.io/paused: "true"` holds the rollout where it is; `capstan.io/restartedAt: <time>` is part
// of a revision's identity, so a new stamp makes a new revision of the same template and every task
// is replaced by the rolling-upgrade rules. Undo writes an old revision's template back into the App,
// which makes that Revision current again (its remaining tasks are kept). Applying the App's
// manifest again keeps both annotations: apply removes only the annotations its manifests set.
import { Command } from 'commander';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import { RESTARTED_AT_ANNOTATION } from '../api/kinds/wellknown.ts';
import { setPaused } from '../api/ops/pause.ts';
import { restartApp } from '../api/ops/restart.ts';
import { revisionsOf, undoApp } from '../api/ops/undo.ts';
import { getCondition, refKey, type CapstanObject } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { parseDuration, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import { formatAge, formatTable, palette } from './io.ts';

type App = CapstanObject<AppSpec, AppStatus>;

const POLL_MS = 200;

const say = {
  notFound: (ns: string, name: string) => `app "${name}" not found in namespace "${ns}"`,
  toRevision: (value: string) => `--to-revision: expected a revision number, found "${value}"`,
  noRevision: (name: string, n: number, known: number[]) => `app "${name}" has no revision ${n} (it has ${known.join(', ') || 'none'})`,
  nothingToUndo: (name: string) => `app "${name}" has no earlier revision to go back to`,
  already: (name: string, n: number) => `app/${name} is already at revision ${n}`,
  undone: (name: string, n: number) => `app/${name} rolled back to revision ${n}`,
  paused: (name: string) => `app/${name} paused`,
  resumed: (name: string) => `app/${name} resumed`,
  restarted: (name: string) => `app/${name} restarted`,
  timedOut: (names: string[], seconds: number) => `timed out after ${seconds} s waiting for ${names.join(', ')}`,
} as const;

export function rolloutCommand(act: Act): Command {
  const rollout = new Command('rollout').description("Follow and steer an App's rolling upgrade");
  rollout
    .command('status')
    .description('Follow the rollout live until it completes (exit 0), or fails or is rolled back (exit 1)')
    .argument('<app>', 'the App')
    .option('--timeout <duration>', 'give up after this long (90s, 5m, 1h)', '10m')
    .action(act(async (ctx, name: string, options: { timeout: string }) => runRolloutStatus(ctx, { name, timeoutMs: parseDuration(options.timeout) })));
  rollout
    .command('history')
    .description("The App's revisions: what each ran, how many it has now, which one is stable")
    .argument('<app>', 'the App')
    .action(act(async (ctx, name: string) => runHistory(ctx, name)));
  rollout
    .command('undo')
    .description('Go back to an earlier revision (default: the stable one, else the one before the current)')
    .argument('<app>', 'the App')
    .option('--to-revision <n>', 'the revision to go back to')
    .action(act(async (ctx, name: string, options: { toRevision?: string }) => runUndo(ctx, name, options.toRevision)));
  for (const [verb, description] of [
    ['pause', 'Hold the rollout where it is (annotation capstan.io/paused: "true")'],
    ['resume', 'Let a paused rollout continue'],
    ['restart', 'Replace every task by a rolling upgrade (annotation capstan.io/restartedAt)'],
  ] as const) {
    rollout
      .command(verb)
      .description(description)
      .argument('<app>', 'the App')
      .action(act(async (ctx, name: string) => runAnnotate(ctx, name, verb)));
  }
  return rollout;
}

async function getApp(store: Store, namespace: string, name: string): Promise<App> {
  const app = await store.get<App>('App', { namespace, name });
  if (!app) throw new CliError(say.notFound(namespace, name));
  return app;
}

async function runAnnotate(ctx: CommandContext, name: string, verb: 'pause' | 'resume' | 'restart'): Promise<number> {
  const { store } = await ctx.session();
  const namespace = ctx.config.namespace;
  if (verb === 'restart') {
    const result = await restartApp({ store, namespace, name, now: new Date() });
    if (result.outcome === 'gone') throw new CliError(say.notFound(namespace, name));
    ctx.io.stdout.write(`${say.restarted(name)}\n`);
    return EXIT.ok;
  }
  const result = await setPaused({ store, namespace, name, paused: verb === 'pause' });
  if (result.outcome === 'gone') throw new CliError(say.notFound(namespace, name));
  ctx.io.stdout.write(`${verb === 'pause' ? say.paused(name) : say.resumed(name)}\n`);
  return EXIT.ok;
}

async function runUndo(ctx: CommandContext, name: string, toRevision: string | undefined): Promise<number> {
  const wanted = toRevision === undefined ? undefined : Number(toRevision);
  if (wanted !== undefined && !(Number.isInteger(wanted) && wanted > 0)) throw usageError(say.toRevision(toRevision!));
  const { store } = await ctx.session();
  const namespace = ctx.config.namespace;
  const result = await undoApp({ store, namespace, name, toRevision: wanted });
  if (result.outcome === 'gone') throw new CliError(say.notFound(namespace, name));
  if (result.outcome === 'noRevision') {
    throw new CliError(result.wanted !== undefined ? say.noRevision(name, result.wanted, result.known) : say.nothingToUndo(name));
  }
  if (result.outcome === 'already') {
    ctx.io.stdout.write(`${say.already(name, result.revision)}\n`);
    return EXIT.ok;
  }
  ctx.io.stdout.write(`${say.undone(name, result.to)}\n`);
  return EXIT.ok;
}

async function runHistory(ctx: CommandContext, name: string): Promise<number> {
  const { store } = await ctx.session();
  const app = await getApp(store, ctx.config.namespace, name);
  const revisions = await revisionsOf(store, app);
  const rows = [['REVISION', 'INSTANCES', 'READY', 'STABLE', 'AGE', 'CHANGE']];
  for (const r of revisions) {
    // Stable is one revision, the App's rollback target (the one most recently fully healthy, as the
    // rollout controller keeps it); an older revision that was once fully healthy is not.
    const stable = r.spec.number === app.status?.stableRevision;
    const marks = r.spec.number === app.status?.currentRevision ? ['current'] : [];
    const restarted = r.metadata.annotations?.[RESTARTED_AT_ANNOTATION];
    const change = r.spec.template.containers.map((c) => c.image ?? c.cmd ?? c.args?.join(' ') ?? '-').join(', ') + (restarted ? ` (restarted ${restarted})` : '');
    rows.push([
      `${r.spec.number}${marks.length ? ` (${marks.join(', ')})` : ''}`,
      String(r.spec.instances),
      String(r.status?.ready ?? 0),
      stable ? 'yes' : 'no',
      formatAge(r.metadata.creationTimestamp),
      change,
    ]);
  }
  ctx.io.stdout.write(formatTable(rows));
  return EXIT.ok;
}

async function runRolloutStatus(ctx: CommandContext, options: { name: string; timeoutMs: number }): Promise<number> {
  const { store } = await ctx.session();
  const app = await getApp(store, ctx.config.namespace, options.name);
  return waitForRollouts(ctx, store, [{ namespace: ctx.config.namespace, name: options.name, generation: app.metadata.generation ?? 0 }], options.timeoutMs);
}

// ---------------------------------------------------------------------------------------------
// The live wait

export interface AwaitedApp {
  namespace: string;
  name: string;
  /** The generation written: the rollout of anything older does not count. */
  generation: number;
}

export type RolloutVerdict = { kind: 'pending'; line: string } | { kind: 'complete'; line: string } | { kind: 'failed'; line: string };

/** Where one App's rollout stands, in one line: revision, new / old, healthy, phase. Pure. */
export function rolloutVerdict(app: App | undefined, awaited: AwaitedApp): RolloutVerdict {
  const label = `app/${awaited.name}`;
  if (!app) return { kind: 'failed', line: `${label}: deleted` };
  const status = app.status;
  if (!status || (status.observedGeneration ?? 0) < awaited.generation) return { kind: 'pending', line: `${label}: waiting for the rollout controller` };
  const rollout = status.rollout;
  const current = status.revisions?.find((r) => r.revision === status.currentRevision);
  const newReady = current?.ready ?? 0;
  const old = (status.revisions ?? []).filter((r) => r.revision !== status.currentRevision).reduce((n, r) => n + Math.max(r.instances, r.running), 0);
  const counts = `revision ${status.currentRevision ?? '-'}: new ${newReady}/${app.spec.instances} ready, old ${old}, healthy ${status.healthy}`;
  const phase = rollout?.phase ?? 'Progressing';
  const line = `${label}  ${counts}  ${phase}${rollout?.message && phase !== 'Progressing' ? ` — ${rollout.message}` : ''}`;
  if (phase === 'RolledBack' || phase === 'Failed') return { kind: 'failed', line };
  if (phase === 'Complete' && rollout?.completedAt) return { kind: 'complete', line };
  const progressing = getCondition(status.conditions, 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') return { kind: 'failed', line };
  return { kind: 'pending', line };
}

/**
 * Follows the Apps' rollouts until each is complete (0), one fails or is rolled back (1), or the
 * timeout runs out (1). On a terminal, one line per App redrawn in place; piped, a line per change.
 */
export async function waitForRollouts(ctx: CommandContext, store: Store, apps: readonly AwaitedApp[], timeoutMs: number): Promise<number> {
  const paint = palette(ctx.io.color);
  const tty = ctx.io.stdout.isTTY === true;
  const deadline = Date.now() + timeoutMs;
  const last = new Map<string, string>();
  let drawn = 0;
  for (;;) {
    const verdicts = await Promise.all(
      apps.map(async (awaited) => rolloutVerdict((await store.get<App>('App', { namespace: awaited.namespace, name: awaited.name })) ?? undefined, awaited)),
    );
    const colour = (v: RolloutVerdict) => (v.kind === 'complete' ? paint.green(v.line) : v.kind === 'failed' ? paint.red(v.line) : v.line);
    if (tty) {
      ctx.io.stdout.write(`${drawn ? `\u001b[${drawn}A` : ''}${verdicts.map((v) => `\r\u001b[K${colour(v)}\n`).join('')}`);
      drawn = verdicts.length;
    } else {
      verdicts.forEach((v, i) => {
        const key = refKey(apps[i]!);
        if (last.get(key) !== v.line) ctx.io.stdout.write(`${v.line}\n`);
        last.set(key, v.line);
      });
    }
    if (verdicts.some((v) => v.kind === 'failed')) return EXIT.failed;
    if (verdicts.every((v) => v.kind === 'complete')) return EXIT.ok;
    if (Date.now() > deadline) {
      const pending = apps.filter((_, i) => verdicts[i]!.kind === 'pending').map((a) => `app/${a.name}`);
      ctx.io.stderr.write(`${say.timedOut(pending, Math.round(timeoutMs / 1000))}\n`);
      return EXIT.failed;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
