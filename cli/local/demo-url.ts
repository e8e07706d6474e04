// Where the demo answers: the first Running task with a host port that answers HTTP, preferring the
// App `up` names (demo/web). Polls the store, not a watch: this runs once, for at most a minute, and a
// poll cannot miss a change that happened before it started.
import { request } from 'node:http';
import type { TaskSpec, TaskStatus } from '../../api/kinds/task.ts';
import type { CapstanObject } from '../../api/object.ts';
import type { Store } from '../../api/store.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;

export interface DemoUrlOptions {
  store: Store;
  namespace: string;
  /** Tasks of this App are the ones tried, while it has any; then any task with a port. */
  app: string;
  timeoutMs: number;
  /** Gives up early (Ctrl-C during start-up). */
  signal?: AbortSignal;
}

/** http://127.0.0.1:<port>/ of a task that answered, or undefined when none did in time. */
export async function waitForDemoUrl(options: DemoUrlOptions): Promise<string | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline && !options.signal?.aborted) {
    const { items } = await options.store.list<Task>('Task', { namespace: options.namespace });
    // Only the named App's tasks while it has any: another App answering first is not the demo.
    const named = items.filter((t) => t.spec.app === options.app);
    const candidates = (named.length > 0 ? named : items).filter((t) => t.status?.phase === 'Running' && (t.spec.hostPorts?.length ?? 0) > 0);
    for (const task of candidates) {
      const url = `http://127.0.0.1:${task.spec.hostPorts![0]}/`;
      if (await answers(url)) return url;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return undefined;
}

/** Any HTTP answer counts: the point is that a server is there, not what it serves. */
export function answers(url: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
