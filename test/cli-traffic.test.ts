// `capstan get endpoints` and the Traffic section of `capstan describe app`, against a real etcd.
// What the endpoints controller and `capstan lb` would write (Endpoints, a load balancer's
// registration and its drained keys, the LoadBalanced condition) is written here directly, so the
// command is tested on exactly the state it reads.
import { describe, expect, it } from 'vitest';
import { drainedKey, loadBalancerLeaseKey } from '../api/keys.ts';
import { appSpecSchema, templateOf, type AppSpecInput } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { EndpointsSpec } from '../api/kinds/endpoints.ts';
import type { AnyObject } from '../api/object.ts';
import { capstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';

const NS = 'shop';
const appSpec = (extra: Partial<AppSpecInput> = {}) => appSpecSchema.parse({ driver: 'process', containers: [{ name: 'main', cmd: 'x' }], ...extra });

describe('capstan get endpoints and describe app traffic', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  const run = (...args: string[]) => capstan(args, { etcd: db.etcd.url });


  async function createApp(name: string, extra: Partial<AppSpecInput>, labels: Record<string, string> = {}): Promise<AnyObject> {
    return db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace: NS, labels }, spec: appSpec(extra) });
  }

  /** Endpoints as the endpoints controller writes them: `count` tasks serving each port on 10.0.0.<i>. */
  async function createEndpoints(app: string, ports: { name?: string; servicePort?: number; protocol?: 'tcp' | 'udp' }[], count: number): Promise<AnyObject> {
    const spec: EndpointsSpec = {
      app,
      ports: ports.map((p, index) => ({
        ...p,
        index,
        protocol: p.protocol ?? 'tcp',
        addresses: Array.from({ length: count }, (_, i) => ({ address: `10.0.0.${i + 1}`, hostPort: 31000 + index * 100 + i, task: `${app}-${i + 1}`, node: `n${i + 1}` })),
      })),
    };
    return db.store.create({ apiVersion: 'capstan/v1', kind: 'Endpoints', metadata: { name: app, namespace: NS }, spec });
  }

  /** What `capstan lb` registers (lease-bound there; a plain key is the same to a reader). */
  async function registerLoadBalancer(name: string, groups: string[]): Promise<void> {
    await db.client.put(loadBalancerLeaseKey(name)).value(JSON.stringify({ name, groups, pid: 4242 }));
  }

  it('get endpoints lists service ports and addresses, shortened, and every task with -o wide', async () => {
    await createApp('web', { ports: [{ name: 'http' }, { name: 'admin' }], loadBalancer: { group: 'external' } });
    await createEndpoints('web', [{ name: 'http', servicePort: 10000 }, { name: 'admin', servicePort: 10001 }], 2);
    await createEndpoints('idle', [{ name: 'http' }], 0);

    const table = await run('get', 'endpoints', '-n', NS);
    expect(table.code).toBe(0);
    const [header, idle, web] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^NAME\s+APP\s+SERVICE PORTS\s+ENDPOINTS\s+AGE$/);
    expect(idle).toMatch(/^idle\s+idle\s+<none>\s+<none>\s+\d+s$/);
    expect(web).toMatch(/^web\s+web\s+http:10000,admin:10001\s+10\.0\.0\.1:31000,10\.0\.0\.2:31001,10\.0\.0\.1:31100 \+ 1 more\.\.\.\s+\d+s$/);

    const wide = await run('get', 'ep', 'web', '-n', NS, '-o', 'wide');
    expect(wide.stdout.split('\n')[0]).toMatch(/^NAME\s+APP\s+SERVICE PORTS\s+ENDPOINTS\s+TASKS\s+AGE$/);
    expect(wide.stdout).toContain('web-1@10.0.0.1:31000,web-2@10.0.0.2:31001,web-1@10.0.0.1:31100,web-2@10.0.0.2:31101');

    const all = await run('get', 'ep', '-A');
    expect(all.stdout).toMatch(/^shop\s+web\s+web\s+http:10000,admin:10001/m);
  });

  it('describe app shows the service port, serving count, DNS names, settings and which load balancers serve it', async () => {
    await createApp('web', { ports: [{ name: 'http' }, {}], loadBalancer: { group: 'external', vhost: 'web.example.com' } }, { HAPROXY_0_BALANCE: 'leastconn' });
    const endpoints = await createEndpoints('web', [{ name: 'http', servicePort: 10000 }, {}], 3);
    await registerLoadBalancer('lb-edge', ['external']);
    await registerLoadBalancer('lb-inside', ['internal']);
    await registerLoadBalancer('lb-new', ['external']);
    await db.client.put(drainedKey('lb-edge', NS, 'web')).value(endpoints.metadata.resourceVersion!);
    // Acknowledged, as every load balancer acknowledges every App, yet it does not route this one.
    await db.client.put(drainedKey('lb-inside', NS, 'web')).value(endpoints.metadata.resourceVersion!);

    const result = await run('describe', 'app', 'web', '-n', NS);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const traffic = result.stdout.slice(result.stdout.indexOf('Traffic:'), result.stdout.indexOf('Events:'));
    expect(traffic).toMatch(/^ {4}0 \(http\)\s+tcp\s+any\s+10000\s+3 serving$/m);
    expect(traffic).toMatch(/^ {4}1\s+tcp\s+any\s+<none>\s+3 serving$/m);
    expect(traffic).toContain('DNS (zone capstan):');
    expect(traffic).toMatch(/^ {4}web\.shop\.capstan\s+A\s+3 addresses$/m);
    expect(traffic).toMatch(/^ {4}_http\._tcp\.web\.shop\.capstan\s+SRV\s+3 targets$/m);
    expect(traffic).toMatch(/^ {4}_web\._tcp\.shop\.capstan\s+SRV\s+6 targets$/m);
    expect(traffic).toMatch(/^ {4}<task>\.shop\.capstan\s+A\s+one per Running task, serving or not \(3 serving\)$/m);
    expect(traffic).toMatch(/^ {4}spec\.loadBalancer: group=external vhost=web\.example\.com .*portIndex=0$/m);
    expect(traffic).toContain('labels: HAPROXY_0_BALANCE=leastconn');
    expect(traffic).toContain('port 0 → service port 10000: group external, http, vhost web.example.com, leastconn');
    expect(traffic).toMatch(new RegExp(`^ {4}lb-edge\\s+serving \\(at revision ${endpoints.metadata.resourceVersion}\\)$`, 'm'));
    expect(traffic).toMatch(/^ {4}lb-inside\s+not serving \(its groups: internal; this App's: external\)$/m);
    expect(traffic).toMatch(/^ {4}lb-new\s+not serving yet \(its groups: external\): it has not converged/m);
    expect(traffic).not.toContain('LoadBalanced');
  });

  it('describe app says which load balancer rejected the App, with the LoadBalanced message', async () => {
    const app = await createApp('api', { ports: [{ name: 'http' }], loadBalancer: {} });
    const endpoints = await createEndpoints('api', [{ name: 'http', servicePort: 10002 }], 1);
    await registerLoadBalancer('lb-edge', ['external']);
    await db.client.put(drainedKey('lb-edge', NS, 'api')).value(endpoints.metadata.resourceVersion!);
    const message = 'load balancer lb-edge left this App out: haproxy -c said: unknown keyword "bogus" in backend section';
    const lastTransitionTime = new Date().toISOString();
    await db.store.updateStatus({ ...app, status: { conditions: [{ type: 'LoadBalanced', status: 'False', reason: 'ConfigRejected', message, lastTransitionTime }] } });

    const { stdout } = await run('describe', 'app', 'api', '-n', NS);
    expect(stdout).toMatch(/^ {4}lb-edge\s+not serving: haproxy -c rejected this App \(see LoadBalanced below\)$/m);
    expect(stdout).toContain(`  LoadBalanced: False (ConfigRejected): ${message}`);
  });

  it('describe app of an App nobody routes to says so instead of empty tables', async () => {
    await createApp('batch', { ports: [] });

    const { stdout } = await run('describe', 'app', 'batch', '-n', NS);
    expect(stdout).toContain('the App declares no ports: nothing to route to');
    expect(stdout).toContain('none yet: no task is serving, so batch.shop.capstan answers NXDOMAIN');
    expect(stdout).toMatch(/^ {4}<task>\.shop\.capstan\s+A\s+one per Running task, serving or not \(0 serving\)$/m);
    expect(stdout).toContain('<none>: no load balancer routes to this App');
    expect(stdout).toContain('none running (`capstan lb` registers under /capstan/leases/loadbalancers/)');
  });

  it('describe task shows Draining among its conditions', async () => {
    await createApp('web', { ports: [{ name: 'http' }] });
    const task = await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'Task',
      metadata: { name: 'web-1', namespace: NS },
      spec: { app: 'web', revision: 1, template: templateOf(appSpec({ ports: [{ name: 'http' }] })), nodeName: 'n1', hostPorts: [31000] },
    });
    const lastTransitionTime = new Date().toISOString();
    await db.store.updateStatus({
      ...task,
      status: { phase: 'Running', conditions: [{ type: 'Draining', status: 'True', reason: 'Draining', message: 'waiting up to 5s for the load balancers', lastTransitionTime }] },
    });

    const { stdout } = await run('describe', 'task', 'web-1', '-n', NS);
    expect(stdout).toMatch(/^ {2}Draining\s+True\s+Draining\s+waiting up to 5s for the load balancers\s+\d+s$/m);
    expect(stdout).not.toContain('Traffic:');
  });
});
