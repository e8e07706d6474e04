// Leader election between OS processes on a real etcd, with a 2 s lease: failover after kill -9,
// the fence rejecting a deposed leader's late write, and resignation on SIGTERM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd } from '../api/etcd.ts';
import { firstValueFrom, filter } from 'rxjs';
import { LeaderElection } from '../controllers/leader.ts';
import { spawnScript, type Child, type Line } from './helpers/child.ts';
import { startProxy } from './helpers/tcp-proxy.ts';
import { useStore } from './helpers/etcd.ts';
import { widget, widgetRegistry } from './helpers/kinds.ts';

const TTL_SECONDS = 2;
const SCRIPT = 'test/helpers/leader-child.ts';

describe('leader election between processes', () => {
  const db = useStore(widgetRegistry());
  const children: Child[] = [];
  const start = (id: string) => {
    const child = spawnScript(SCRIPT, { ETCD_URL: db.etcd.url, CHILD_ID: id, LEASE_TTL_SECONDS: String(TTL_SECONDS) });
    children.push(child);
    return child;
  };
  const leads = (line: Line) => line.event === 'leading';
  const follows = (leader: string) => (line: Line) => line.event === 'following' && line.leader === leader;

  beforeAll(async () => {
    await db.store.create(widget('target'));
  });
  afterAll(async () => {
    await Promise.all(children.map((child) => child.dispose()));
  });

  it('fails over within TTL + 1 s of kill -9, rejects the deposed leader\'s late write, and hands over at once on SIGTERM', async () => {
    const a = start('a');
    await a.waitFor(leads, { what: 'a leading' });
    const b = start('b');
    await b.waitFor(follows('a'), { what: 'b following a' });

    // 1. Crash: the successor waits out the dead leader's lease, no longer.
    const killedAt = Date.now();
    a.signal('SIGKILL');
    const bLeads = await b.waitFor(leads, { what: 'b leading after a was killed' });
    const failoverMs = bLeads.receivedAt - killedAt;
    console.log(`failover after kill -9 with a ${TTL_SECONDS} s lease: ${failoverMs} ms`);
    expect(failoverMs).toBeLessThanOrEqual(TTL_SECONDS * 1000 + 1000);

    // 2. A paused leader: b is stopped past its TTL, c takes over, then b resumes and writes with
    //    the store fenced by its old term. The write must fail and not land.
    const c = start('c');
    await c.waitFor(follows('b'), { what: 'c following b' });
    b.signal('SIGSTOP');
    const stoppedAt = Date.now();
    const cLeads = await c.waitFor(leads, { what: 'c leading while b is stopped' });
    console.log(`takeover from a SIGSTOPped leader: ${cLeads.receivedAt - stoppedAt} ms`);
    const bLinesBefore = b.lines.length;
    b.send('write target'); // buffered in the pipe until b runs again
    b.signal('SIGCONT');
    const late = await b.waitFor((line) => line.event === 'write', { from: bLinesBefore, what: 'b reporting its late write' });
    expect(late).toMatchObject({ ok: false, code: 'Fenced' });
    await b.waitFor((line) => line.event === 'following', { from: bLinesBefore, what: 'b noticing it lost leadership' });
    expect(((await db.store.mustGet('Widget', { name: 'target' })).spec as { note?: string }).note).toBeUndefined();

    // The current leader's fenced write lands.
    const cLinesBefore = c.lines.length;
    c.send('write target');
    expect(await c.waitFor((line) => line.event === 'write', { from: cLinesBefore })).toMatchObject({ ok: true });
    expect(((await db.store.mustGet('Widget', { name: 'target' })).spec as { note?: string }).note).toBe('c');

    // 3. Graceful shutdown resigns: b takes over without waiting for c's lease to expire.
    await b.waitFor(follows('c'), { from: bLinesBefore, what: 'b following c' });
    const bLinesBeforeResign = b.lines.length;
    const terminatedAt = Date.now();
    c.signal('SIGTERM');
    const bLeadsAgain = await b.waitFor(leads, { from: bLinesBeforeResign, what: 'b leading after c resigned' });
    const handoverMs = bLeadsAgain.receivedAt - terminatedAt;
    console.log(`handover after SIGTERM (resign): ${handoverMs} ms`);
    expect(handoverMs).toBeLessThan(TTL_SECONDS * 1000);
    await new Promise<void>((resolve) => (c.process.exitCode !== null ? resolve() : c.process.once('exit', () => resolve())));
    expect(c.process.exitCode).toBe(0);
  });

  it('declares leadership lost within the TTL when etcd becomes unreachable, before a successor can lead', async () => {
    const proxy = await startProxy(Number(new URL(db.etcd.url).port));
    const partitioned = connectEtcd({ endpoints: proxy.url, callTimeoutMs: 500 });
    const election = new LeaderElection({ client: partitioned, name: 'partition', ttlSeconds: TTL_SECONDS, identity: 'p' });
    try {
      election.start();
      const leading = await firstValueFrom(election.leadership$.pipe(filter((l) => l.state === 'leading')));
      const cutAt = Date.now();
      proxy.partition();
      await firstValueFrom(election.leadership$.pipe(filter((l) => l.state === 'following')));
      const detectedMs = Date.now() - cutAt;
      console.log(`leadership loss noticed ${detectedMs} ms after a partition (TTL ${TTL_SECONDS} s)`);
      expect(detectedMs).toBeLessThan(TTL_SECONDS * 1000);
      expect(leading.state === 'leading' && leading.term.signal.aborted).toBe(true);
    } finally {
      proxy.heal();
      await election.stop();
      partitioned.close();
      await proxy.close();
    }
  });
});
