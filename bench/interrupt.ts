// The one interruption handler of the benches: Ctrl-C or SIGTERM undoes everything a bench started
// (agents and their workloads, dockerd, haproxy, etcd) and exits, instead of leaving it running.
//
// What a bench starts registers its undo step here (`onInterrupt`) and drops it once it has undone
// it itself (the returned function). On a signal the steps run newest first, so what was started on
// top of something (workloads on agents, agents on etcd) goes before it; each step has a deadline,
// so one that hangs (a graceful stop waiting on an etcd that is already gone) cannot keep the
// others from running. A second signal exits at once. An error nothing caught (a rejected promise
// no one awaited yet) runs the same steps before the process exits with it, since a bench's own
// `finally` does not run then.
//
// The steps live in this module, not in an object passed around: signal handlers are process-wide,
// and so is the list of what must be undone when one fires.

const STEP_DEADLINE_MS = 20_000;
const EXIT_CODES: Record<'SIGINT' | 'SIGTERM' | 'error', number> = { SIGINT: 130, SIGTERM: 143, error: 1 };

interface Step {
  what: string;
  undo: () => unknown;
}

const steps: Step[] = [];
let interrupted = false;

const say = {
  interrupted: (signal: string, count: number) => `\n${signal}: stopping what this bench started (${count} step${count === 1 ? '' : 's'})…`,
  uncaught: (error: unknown) => `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  stepFailed: (what: string, message: string) => `  ${what}: ${message}`,
  stepTimedOut: (seconds: number) => `did not finish within ${seconds} s; going on with the rest`,
  again: (signal: string) => `${signal} again: exiting without finishing the clean-up`,
};

/** Registers what undoes something the bench started; returns the function that drops it. */
export function onInterrupt(what: string, undo: () => unknown): () => void {
  installHandlers();
  const step = { what, undo };
  steps.push(step);
  return () => {
    const index = steps.indexOf(step);
    if (index >= 0) steps.splice(index, 1);
  };
}

let installed = false;
function installHandlers(): void {
  if (installed) return;
  installed = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void interrupt(signal));
  const fail = (error: unknown) => {
    console.error(say.uncaught(error));
    void interrupt('error');
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
}

async function interrupt(signal: 'SIGINT' | 'SIGTERM' | 'error'): Promise<void> {
  if (interrupted) {
    console.error(say.again(signal));
    process.exit(EXIT_CODES[signal]);
  }
  interrupted = true;
  console.error(say.interrupted(signal, steps.length));
  while (steps.length > 0) {
    const step = steps.pop()!;
    try {
      await withDeadline(Promise.resolve().then(step.undo), STEP_DEADLINE_MS);
    } catch (error) {
      console.error(say.stepFailed(step.what, (error as Error).message));
    }
  }
  process.exit(EXIT_CODES[signal]);
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(say.stepTimedOut(ms / 1000))), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
