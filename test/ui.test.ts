// The dashboard in a real browser: Debian's Chromium (playwright-core) against real parts — a real
// etcd, every built-in controller in this process, one `capstan agent` OS process running the
// process driver, and the API server that serves the dashboard at /ui/. What the UI does is read
// back from the store and the machine; what the UI shows is read from the DOM contract
// (data-testid attributes), waiting with bounded polls, never a fixed sleep.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import { startApiServer, type RunningApiServer } from '../api/http/server.ts';
import type { CapstanObject } from '../api/object.ts';
import { launchBrowser, type TestBrowser, type TestPage } from './helpers/browser.ts';
import { useCluster } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

type App = CapstanObject<AppSpec, AppStatus>;

// A node name and port range of its own (31810–31829), so that this file runs beside the other cluster tests.
const SUITE = `ui-${process.pid}`;
const cluster = useCluster({ suite: SUITE, nodes: [{ name: 'ui-n1', ports: '31810-31829' }], leaseTtlSeconds: 1 });
let api: RunningApiServer;
let browser: TestBrowser;

beforeAll(async () => {
  api = await startApiServer({ store: cluster.store, client: cluster.client, registry: cluster.store.registry });
  browser = await launchBrowser();
}, 30_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
});

/** Creates a Marathon app through the API: a busybox process marked as this suite's, with one host port. */
async function createApp(name: string, instances: number): Promise<void> {
  const response = await fetch(`${api.url}/v2/apps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: `/${name}`, cmd: 'exec busybox sleep 3600', instances, cpus: 0.01, mem: 4, env: { CAPSTAN_TEST_SUITE: SUITE }, taskKillGracePeriodSeconds: 1 }),
  });
  expect(response.status, await response.text()).toBe(201);
}

const getApp = async (name: string) => cluster.store.get<App>('App', { namespace: 'default', name });

/** Waits until the App's rollout is complete with every instance running. */
async function untilSettled(name: string, instances: number): Promise<App> {
  return until(
    async () => {
      const app = await getApp(name);
      const done = app?.status?.rollout?.phase === 'Complete' && (app.status.observedGeneration ?? 0) >= (app.metadata.generation ?? 1);
      return done && app.status!.running === instances && app.status!.healthy === instances && app;
    },
    { timeoutMs: 30_000, what: `${name}: rollout complete with ${instances} running and healthy` },
  ).catch(async (error: Error) => Promise.reject(new Error(`${error.message}\n${JSON.stringify((await getApp(name))?.status)}\n${await cluster.describe()}`)));
}

const rowOf = (name: string) => `[data-testid=app-row][data-app="default/${name}"]`;

/**
 * Waits until the App's row shows a full bar: the healthy segment at 100 % with `count` instances,
 * and "count of count". Generous deadline: the status has to travel store → watch → SSE → DOM.
 */
async function untilFullBar(page: TestPage, name: string, count: number): Promise<void> {
  await page.page
    .waitForFunction(
      ({ row, count }) => {
        const healthy = document.querySelector<HTMLElement>(`${row} [data-testid=health-bar] [data-segment=healthy]`);
        const instances = document.querySelector(`${row} [data-testid=app-instances]`)?.textContent ?? '';
        return healthy !== null && parseFloat(healthy.style.width) >= 99.9 && healthy.dataset.count === String(count) && instances.includes(`${count} of ${count}`);
      },
      { row: rowOf(name), count },
      { timeout: 20_000 },
    )
    .catch(async (error: Error) => Promise.reject(new Error(`${error.message}\nrow: ${await rowText(page, name)}\nstore: ${JSON.stringify((await getApp(name))?.status)}`)));
}

/** The row's text and its segments, for a failure message. */
async function rowText(page: TestPage, name: string): Promise<string> {
  return page.page.evaluate((row) => {
    const element = document.querySelector(row);
    if (!element) return `no ${row}; page: ${document.body.innerText.slice(0, 2000)}`;
    const segments = [...element.querySelectorAll<HTMLElement>('[data-segment]')].map((s) => `${s.dataset.segment}=${s.dataset.count}@${s.style.width}`);
    return `${(element as HTMLElement).innerText.replace(/\s+/g, ' ')} [${segments.join(' ')}]`;
  }, rowOf(name));
}

/** Marks the window, so that a test can tell the page was never reloaded. */
async function markWindow(page: TestPage): Promise<void> {
  await page.page.evaluate(() => {
    (window as unknown as { capstanTestMark: boolean }).capstanTestMark = true;
  });
}
const stillMarked = async (page: TestPage) => page.page.evaluate(() => (window as unknown as { capstanTestMark?: boolean }).capstanTestMark === true);

/** One state of a health bar as a MutationObserver in the page saw it, with when (ms since the epoch). */
interface BarSeen {
  at: number;
  bar: string;
}

const untilLive = async (page: TestPage) => page.page.waitForFunction(() => document.body.dataset.live === 'connected', undefined, { timeout: 15_000 });

describe('the Apps page', () => {
  it('lists an App with a full health bar, live, and no console errors', async () => {
    await createApp('web', 2);
    await untilSettled('web', 2);

    const apps = await browser.open(`${api.url}/ui/`);
    await apps.page.waitForSelector('[data-testid=apps]', { timeout: 15_000 });
    await untilLive(apps);
    await untilFullBar(apps, 'web', 2);
    const row = apps.page.locator(rowOf('web'));
    await apps.page.waitForFunction((row) => document.querySelector(`${row} [data-testid=app-status]`)?.textContent?.includes('Running'), rowOf('web'), { timeout: 20_000 });
    for (const segment of ['unhealthy', 'unknown', 'staged', 'overCapacity', 'unscheduled']) {
      const width = await row.locator(`[data-testid=health-bar] [data-segment=${segment}]`).evaluate((s: HTMLElement) => parseFloat(s.style.width || '0'));
      expect(width, segment).toBe(0);
    }
    await apps.screenshot('apps');

    // By keyboard: the App's name is a link to its page.
    await row.locator('a').first().focus();
    await apps.page.keyboard.press('Enter');
    await apps.page.waitForSelector('[data-testid=app-page]', { timeout: 15_000 });
    expect(new URL(apps.page.url()).hash).toBe('#/apps/default/web');
    expect(apps.errors).toEqual([]);
    await apps.page.close();
  }, 90_000);

  it('`/` sends a browser to the dashboard', async () => {
    const response = await fetch(`${api.url}/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect([301, 302, 303, 307, 308]).toContain(response.status);
    expect(response.headers.get('location')).toMatch(/\/ui\/$/);
  });
});

describe('the App page', () => {
  it('scales from the UI: the store’s spec.instances changes and the Apps page’s bar grows without a reload', async () => {
    await createApp('web', 1);
    await untilSettled('web', 1);
    const apps = await browser.open(`${api.url}/ui/`);
    await untilLive(apps);
    await untilFullBar(apps, 'web', 1);
    await markWindow(apps);

    const app = await browser.open(`${api.url}/ui/#/apps/default/web`);
    await app.page.waitForSelector('[data-testid=app-page]', { timeout: 15_000 });
    await untilLive(app);
    await app.page.waitForSelector('[data-testid=task-row]', { timeout: 15_000 });
    await app.page.fill('[data-testid=scale-input]', '3');
    await app.page.click('[data-testid=scale-button]');

    await until(async () => (await getApp('web'))?.spec.instances === 3, { timeoutMs: 10_000, what: 'spec.instances to become 3' });
    await untilSettled('web', 3);
    await untilFullBar(apps, 'web', 3);
    expect(await stillMarked(apps)).toBe(true);
    await app.page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid=task-row] [data-testid=task-phase]')].filter((p) => p.textContent?.includes('Running')).length === 3,
      undefined,
      { timeout: 20_000 },
    );
    // The App's own status follows as well: Running once the scale-up's rollout completed.
    await app.page
      .waitForFunction(() => document.querySelector('[data-testid=app-page] [data-testid=app-status]')?.textContent?.includes('Running'), undefined, { timeout: 20_000 })
      .catch(async (error: Error) => Promise.reject(new Error(`${error.message}\nApp page status: ${await app.page.locator('[data-testid=app-page] [data-testid=app-status]').textContent()}`)));
    await app.screenshot('app');

    // Delete asks first, naming what stops; the screenshot shows the dialog.
    await app.page.click('[data-testid=delete-button]');
    const confirm = app.page.locator('[data-testid=confirm-button]');
    await confirm.waitFor({ timeout: 10_000 });
    await app.screenshot('app-delete-confirm');
    expect(app.errors).toEqual([]);
    expect((await getApp('web'))).toBeDefined();
    await confirm.click();
    await until(async () => (await getApp('web')) === undefined, { timeoutMs: 15_000, what: 'the App to be deleted' });
    await apps.page.waitForSelector(rowOf('web'), { state: 'detached', timeout: 15_000 });

    expect(apps.errors).toEqual([]);
    // The App page may look the deleted App up once more; Chromium logs that 404 as an error.
    expect(app.errors.filter((e) => !/404.*\/apps\/web\)$/.test(e))).toEqual([]);
    await Promise.all([apps.page.close(), app.page.close()]);
  }, 120_000);
});

describe('live updates', () => {
  it('a task killed outside the UI turns its segment within seconds, without a reload', async () => {
    await createApp('web', 2);
    await untilSettled('web', 2);
    const apps = await browser.open(`${api.url}/ui/`);
    await untilLive(apps);
    await untilFullBar(apps, 'web', 2);
    await markWindow(apps);

    // Every change of the bar is recorded in the page: the killed task's gap may be short, since the
    // controllers replace it at once, and a poll could miss it.
    await apps.page.evaluate((row) => {
      const seen: BarSeen[] = [];
      (window as unknown as { capstanBarsSeen: BarSeen[] }).capstanBarsSeen = seen;
      const record = () => {
        const bar = document.querySelector(`${row} [data-testid=health-bar]`);
        if (!bar) return;
        seen.push({ at: Date.now(), bar: [...bar.querySelectorAll<HTMLElement>('[data-segment]')].map((s) => `${s.dataset.segment}=${s.dataset.count ?? 0}`).join(' ') });
      };
      // The body, not the page root: a render may replace the root itself.
      new MutationObserver(record).observe(document.body, { subtree: true, attributes: true, childList: true, characterData: true });
    }, rowOf('web'));

    const [pid] = cluster.workloadPids('web');
    expect(pid).toBeDefined();
    const killedAt = Date.now();
    process.kill(pid!, 'SIGKILL');

    // Within seconds the bar shows 1 healthy: the killed instance moved to another segment (unscheduled,
    // then staged while its replacement starts) …
    const barsSeen = async () => apps.page.evaluate(() => (window as unknown as { capstanBarsSeen: BarSeen[] }).capstanBarsSeen);
    await apps.page
      .waitForFunction(() => (window as unknown as { capstanBarsSeen: BarSeen[] }).capstanBarsSeen.some((seen) => seen.bar.startsWith('healthy=1 ')), undefined, { timeout: 10_000 })
      .catch(async (error: Error) => Promise.reject(new Error(`${error.message}\nbars seen: ${JSON.stringify(await barsSeen())}`)));
    const turned = (await barsSeen()).find((seen) => seen.bar.startsWith('healthy=1 '))!;
    // Browser and test share the machine's clock. The aim is a second; a loaded CI machine gets more.
    expect(turned.at - killedAt, JSON.stringify(await barsSeen())).toBeLessThan(5_000);
    expect(turned.bar).toMatch(/unscheduled=1|staged=1|unhealthy=1|unknown=1/);
    // … and once the controllers replaced the task, it is full again — all on the same page.
    await untilSettled('web', 2);
    await untilFullBar(apps, 'web', 2);
    expect(await stillMarked(apps)).toBe(true);
    await apps.screenshot('apps-after-kill');
    expect(apps.errors).toEqual([]);
    await apps.page.close();
  }, 90_000);
});

describe('reconnecting', () => {
  it('after the API restarts, the page reconnects by itself and follows the App again', async () => {
    await createApp('web', 1);
    await untilSettled('web', 1);
    const apps = await browser.open(`${api.url}/ui/`);
    await untilLive(apps);
    await untilFullBar(apps, 'web', 1);
    await markWindow(apps);

    // The same address again, as `capstan api` restarted by a supervisor would be.
    const port = Number(new URL(api.url).port);
    await api.close();
    await apps.page.waitForFunction(() => document.body.dataset.live === 'reconnecting', undefined, { timeout: 15_000 });
    api = await startApiServer({ store: cluster.store, client: cluster.client, registry: cluster.store.registry, port });

    await untilLive(apps);
    const response = await fetch(`${api.url}/v2/apps/web`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: 2 }) });
    expect(response.status, await response.text()).toBe(200);
    await untilSettled('web', 2);
    await untilFullBar(apps, 'web', 2);
    expect(await stillMarked(apps)).toBe(true);
    // Failed connection attempts while the API was down are logged by Chromium; nothing else may be.
    expect(apps.errors.filter((e) => !/ERR_CONNECTION_REFUSED|EventSource|\/api\/v1\/apps\?watch/.test(e))).toEqual([]);
    await apps.page.close();
  }, 90_000);
});

describe('the App page’s other actions, by keyboard', () => {
  it('restart replaces the tasks; suspend (confirmed) scales to 0 and shows Suspended; resume brings the instances back', async () => {
    await createApp('web', 2);
    await untilSettled('web', 2);
    const before = (await cluster.liveTasksOf('web')).map((t) => t.metadata.name).sort();
    const apps = await browser.open(`${api.url}/ui/`);
    await untilLive(apps);
    const app = await browser.open(`${api.url}/ui/#/apps/default/web`);
    await untilLive(app);
    await app.page.waitForFunction((count) => document.querySelectorAll('[data-testid=task-row]').length === count, 2, { timeout: 15_000 });

    await app.page.focus('[data-testid=restart-button]');
    await app.page.keyboard.press('Enter');
    await until(
      async () => {
        const live = await cluster.liveTasksOf('web');
        return live.length === 2 && live.every((t) => t.status?.phase === 'Running' && !before.includes(t.metadata.name));
      },
      { timeoutMs: 30_000, what: 'both tasks replaced by the restart' },
    );
    await untilSettled('web', 2);
    // The App page shows the new tasks running, the old ones gone or ended, without a reload.
    const after = (await cluster.liveTasksOf('web')).map((t) => t.metadata.name);
    await app.page.waitForFunction(
      (names) => names.every((name) => document.querySelector(`[data-testid=task-row][data-task="${name}"] [data-testid=task-phase]`)?.textContent?.includes('Running')),
      after,
      { timeout: 20_000 },
    );

    // Suspend asks first: the dialog opens on Cancel, Tab reaches Confirm.
    await app.page.focus('[data-testid=suspend-button]');
    await app.page.keyboard.press('Enter');
    await app.page.locator('[data-testid=confirm-button]').waitFor({ timeout: 10_000 });
    expect((await getApp('web'))!.spec.instances).toBe(2);
    const focused = async () => app.page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.testid);
    expect(await focused()).toBe('cancel-button');
    await app.page.keyboard.press('Tab');
    expect(await focused()).toBe('confirm-button');
    await app.page.keyboard.press('Enter');
    await until(async () => (await getApp('web'))?.spec.instances === 0, { timeoutMs: 10_000, what: 'spec.instances to become 0' });
    await apps.page.waitForFunction((row) => document.querySelector(`${row} [data-testid=app-status]`)?.textContent?.includes('Suspended'), rowOf('web'), { timeout: 20_000 });

    // The same button resumes once the App page shows the App suspended (before that, it still suspends).
    await app.page.waitForFunction(() => document.querySelector('[data-testid=app-page] [data-testid=app-status]')?.textContent?.includes('Suspended'), undefined, { timeout: 20_000 });
    await app.page.fill('[data-testid=scale-input]', '2');
    await app.page.click('[data-testid=suspend-button]');
    await until(async () => (await getApp('web'))?.spec.instances === 2, { timeoutMs: 10_000, what: 'spec.instances back to 2' });
    await untilSettled('web', 2);
    await untilFullBar(apps, 'web', 2);

    expect(apps.errors).toEqual([]);
    expect(app.errors).toEqual([]);
    await Promise.all([apps.page.close(), app.page.close()]);
  }, 120_000);
});
