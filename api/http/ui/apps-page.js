// Apps: every App, grouped by namespace (Marathon's group folders), live from one watch.
import { watch } from './api.js';
import { batched, h } from './dom.js';
import { healthSegments } from './health-bar.js';
import { say } from './say.js';

const keyOf = (object) => `${object.metadata.namespace}/${object.metadata.name}`;

/** @param {{ root: HTMLElement, onState(state: string): void }} options @returns {() => void} stop */
export function appsPage({ root, onState }) {
  /** @type {Map<string, any>} */
  const apps = new Map();
  const page = h('section', { 'data-testid': 'apps', 'aria-labelledby': 'apps-title' }, h('h1', { id: 'apps-title' }, 'Apps'));
  const body = h('div');
  page.append(body);
  root.replaceChildren(page);
  const render = batched(() => body.replaceChildren(...appsView(apps)));
  render();
  return watch({
    path: '/api/v1/apps',
    onReset: () => apps.clear(),
    onEvent: (type, app) => {
      if (type === 'DELETED') apps.delete(keyOf(app));
      else apps.set(keyOf(app), app);
      render();
    },
    onState,
  });
}

function appsView(apps) {
  if (apps.size === 0) return [h('p', { class: 'empty' }, say.noApps)];
  const byNamespace = new Map();
  for (const app of [...apps.values()].sort((a, b) => keyOf(a).localeCompare(keyOf(b)))) {
    const list = byNamespace.get(app.metadata.namespace) ?? [];
    list.push(app);
    byNamespace.set(app.metadata.namespace, list);
  }
  return [...byNamespace].map(([namespace, list]) =>
    h(
      'details',
      { class: 'group', open: true },
      h('summary', {}, namespace, h('span', { class: 'muted' }, ` (${list.length})`)),
      h(
        'table',
        { class: 'apps' },
        h('colgroup', {}, ['name', 'labels', 'cpu', 'mem', 'status', 'instances', 'health'].map((c) => h('col', { class: `col-${c}` }))),
        h('thead', {}, h('tr', {}, ...['Name', 'Labels', 'CPU', 'Memory', 'Status', 'Instances', 'Health'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, list.map(appRow)),
      ),
    ),
  );
}

function appRow(app) {
  const { namespace, name, labels = {} } = app.metadata;
  const spec = app.spec ?? {};
  const status = app.status ?? {};
  const wanted = spec.instances ?? 0;
  const { cpus, mem } = resourcesOf(spec);
  const phase = status.phase ?? 'Unknown';
  return h(
    'tr',
    { 'data-testid': 'app-row', dataset: { app: `${namespace}/${name}` } },
    h('th', { scope: 'row' }, h('a', { href: `#/apps/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}` }, name)),
    h('td', { class: 'labels' }, Object.entries(labels).map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`))),
    h('td', { class: 'num' }, cpus),
    h('td', { class: 'num' }, mem === '-' ? '-' : `${mem} MiB`),
    h('td', {}, h('span', { 'data-testid': 'app-status', class: `status status-${phase}`, title: [status.reason, status.message].filter(Boolean).join(': ') || undefined }, phase)),
    h('td', { 'data-testid': 'app-instances', class: 'num' }, `${status.running ?? 0} of ${wanted}`),
    h('td', {}, healthBar(status, wanted)),
  );
}

/** The sum over the template's containers (a pod's resources are its containers'). */
function resourcesOf(spec) {
  const containers = spec.containers ?? spec.template?.containers ?? [];
  let cpus = 0;
  let mem = 0;
  for (const c of containers) {
    cpus += c.resources?.cpus ?? c.cpus ?? 0;
    mem += c.resources?.mem ?? c.mem ?? 0;
  }
  const round = (n) => Math.round(n * 100) / 100;
  return { cpus: cpus ? round(cpus) : spec.cpus ?? '-', mem: mem ? round(mem) : spec.mem ?? '-' };
}

export function healthBar(status, wanted) {
  const segments = healthSegments(status, wanted);
  const summary = segments.filter((s) => s.count > 0).map((s) => `${s.count} ${s.name}`).join(', ') || 'no instances';
  return h(
    'div',
    { 'data-testid': 'health-bar', class: 'health-bar', role: 'img', 'aria-label': summary, title: summary },
    segments.map((s) => h('span', { class: `segment seg-${s.name}`, dataset: { segment: s.name, count: String(s.count) }, style: { width: `${s.percent}%` } })),
  );
}
