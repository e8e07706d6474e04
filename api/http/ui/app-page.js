// App: one App's tasks, live from one watch of its tasks, and its actions through Marathon's /v2
// API (the App itself and the nodes are read with GETs: one event stream per page).
import { getJson, marathon, marathonIdOf, v2AppPath, watch } from './api.js';
import { ago, batched, h } from './dom.js';
import { healthBar } from './apps-page.js';
import { say } from './say.js';

const APP_POLL_MS = 2000;

/** @param {{ root: HTMLElement, namespace: string, name: string, onState(state: string): void }} options @returns {() => void} stop */
export function appPage({ root, namespace, name, onState }) {
  const tasks = new Map();
  /** @type {{ app: any, nodes: Map<string, any>, notice: string }} */
  const state = { app: undefined, nodes: new Map(), notice: '' };
  const title = h('h1', { id: 'app-title' }, h('a', { href: '#/apps' }, 'Apps'), ` / ${namespace} / `, name);
  const summary = h('div', { class: 'summary' });
  const actions = h('div', { class: 'actions' });
  const notice = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite' });
  const table = h('div');
  const dialog = h('dialog', { 'aria-labelledby': 'confirm-text' });
  root.replaceChildren(h('section', { 'data-testid': 'app-page', 'aria-labelledby': 'app-title' }, title, summary, actions, notice, table, dialog));

  const renderTasks = batched(() => table.replaceChildren(tasksView([...tasks.values()], state.nodes)));
  const renderApp = () => {
    summary.replaceChildren(...summaryView(state.app, `${namespace}/${name}`));
    const suspend = actions.querySelector('[data-testid=suspend-button]');
    if (suspend && state.app) suspend.textContent = (state.app.spec?.instances ?? 0) > 0 ? say.suspend : say.resume;
    notice.textContent = state.notice;
  };
  const refreshApp = async () => {
    // Read from the namespace's list, not GET …/apps/<name>: an App deleted (from here or elsewhere)
    // is then absent, where a 404 would be logged by the browser as a console error.
    const list = await getJson(`/api/v1/namespaces/${encodeURIComponent(namespace)}/apps`);
    state.app = (list?.items ?? []).find((app) => app.metadata.name === name) ?? null;
    renderApp();
    // The scale input starts at the wanted instances, and is left alone once the user typed.
    const input = actions.querySelector('[data-testid=scale-input]');
    if (input && input.value === '' && state.app && document.activeElement !== input) input.value = String(state.app.spec?.instances ?? 0);
  };
  const refreshNodes = async () => {
    const list = await getJson('/api/v1/nodes');
    state.nodes = new Map((list?.items ?? []).map((node) => [node.metadata.name, node]));
    renderTasks();
  };
  // The App's status follows its tasks: re-read it (at most every 300 ms) when they change.
  let appTimer;
  const appSoon = () => {
    if (appTimer) return;
    appTimer = setTimeout(() => {
      appTimer = undefined;
      refreshApp().catch(report);
    }, 300);
  };
  const report = (error) => {
    state.notice = String(error.message ?? error);
    renderApp();
  };
  actions.replaceChildren(...actionsView({ getApp: () => state.app, dialog, setNotice: (text) => ((state.notice = text), renderApp(), appSoon()) }));
  refreshApp().catch(report);
  refreshNodes().catch(report);
  // The App's status is written after its tasks change (the replicas controller counts them), so a
  // read right after a task event can miss the last count: it is also read every 2 s.
  const appPoll = setInterval(() => {
    refreshApp().catch(report);
    renderTasks(); // "started … ago" moves on
  }, APP_POLL_MS);
  renderTasks();

  const stop = watch({
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/tasks?labelSelector=${encodeURIComponent(`capstan.io/app=${name}`)}`,
    onReset: () => {
      tasks.clear();
      appSoon();
    },
    onEvent: (type, task) => {
      if (type === 'DELETED') tasks.delete(task.metadata.name);
      else tasks.set(task.metadata.name, task);
      if (task.spec?.nodeName && !state.nodes.has(task.spec.nodeName)) refreshNodes().catch(report);
      renderTasks();
      appSoon();
    },
    onState,
  });
  return () => {
    clearTimeout(appTimer);
    clearInterval(appPoll);
    stop();
  };
}

function summaryView(app, key) {
  if (app === undefined) return [h('p', { class: 'muted' }, '…')];
  if (app === null) return [h('p', { class: 'empty' }, say.appGone(key))];
  const status = app.status ?? {};
  const wanted = app.spec?.instances ?? 0;
  const phase = status.phase ?? 'Unknown';
  return [
    h(
      'dl',
      {},
      h('dt', {}, 'Marathon id'), h('dd', {}, h('code', {}, marathonIdOf(app))),
      h('dt', {}, 'Status'), h('dd', {}, h('span', { 'data-testid': 'app-status', class: `status status-${phase}`, title: status.message }, phase), status.reason ? h('span', { class: 'muted' }, ` — ${status.message ?? status.reason}`) : null),
      h('dt', {}, 'Instances'), h('dd', { 'data-testid': 'app-instances' }, `${status.running ?? 0} of ${wanted}`),
      h('dt', {}, 'Health'), h('dd', {}, healthBar(status, wanted)),
    ),
  ];
}

function tasksView(tasks, nodes) {
  if (tasks.length === 0) return h('p', { class: 'empty' }, say.noTasks);
  tasks.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return h(
    'table',
    { class: 'tasks' },
    h('caption', {}, 'Tasks'),
    h('thead', {}, h('tr', {}, ...['Task', 'Node', 'Ports', 'Health', 'Phase', 'Started'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, tasks.map((task) => taskRow(task, nodes))),
  );
}

function taskRow(task, nodes) {
  const nodeName = task.spec?.nodeName;
  const address = nodeName ? nodes.get(nodeName)?.spec?.address : undefined;
  const ports = (task.spec?.hostPorts ?? []).map((port) => (address ? h('a', { href: `http://${address}:${port}/`, target: '_blank', rel: 'noopener' }, String(port)) : String(port)));
  const healthy = (task.status?.conditions ?? []).find((c) => c.type === 'Healthy');
  const last = (task.status?.healthResults ?? []).find((r) => r.lastFailureCause && !r.alive);
  // Without health checks a running task counts as healthy (AppStatus), and the page says so.
  const unchecked = !task.spec?.template?.healthChecks?.length;
  const phase = task.status?.phase ?? 'Pending';
  return h(
    'tr',
    { 'data-testid': 'task-row', dataset: { task: task.metadata.name } },
    h('th', { scope: 'row' }, h('code', {}, task.metadata.name), h('span', { class: 'muted' }, ` r${task.spec?.revision ?? '?'}`)),
    h('td', {}, nodeName ?? '-'),
    h('td', { class: 'ports' }, ports.length ? ports.flatMap((p, i) => (i ? [' ', p] : [p])) : '-'),
    h('td', {}, unchecked
      ? h('span', { class: 'health health-None' }, say.noHealthChecks)
      : h('span', { class: `health health-${healthy?.status ?? 'Unknown'}`, title: last?.lastFailureCause ?? healthy?.message }, healthLabel(healthy?.status))),
    h('td', {}, h('span', { 'data-testid': 'task-phase', class: `phase phase-${phase}`, title: task.status?.message }, phase)),
    h('td', { title: task.status?.startedAt }, ago(task.status?.startedAt)),
  );
}

const healthLabel = (status) => (status === 'True' ? 'healthy' : status === 'False' ? 'unhealthy' : 'unknown');

function actionsView({ getApp, dialog, setNotice }) {
  const input = h('input', { 'data-testid': 'scale-input', id: 'scale-input', type: 'number', min: '0', step: '1', inputmode: 'numeric' });
  const run = async (what, method, pathOf, body) => {
    const app = getApp();
    if (!app) return;
    const id = marathonIdOf(app);
    const result = await marathon(method, pathOf(id), body);
    setNotice(result.ok ? say.actionDone(what, id) : say.actionFailed(what, result.status, result.message));
  };
  const confirm = (text, then) => {
    dialog.replaceChildren(
      h('form', { method: 'dialog' },
        h('p', { id: 'confirm-text' }, text),
        h('div', { class: 'buttons' },
          h('button', { value: 'cancel', 'data-testid': 'cancel-button', autofocus: true }, 'Cancel'),
          h('button', { value: 'confirm', class: 'danger', 'data-testid': 'confirm-button' }, 'Confirm'))),
    );
    dialog.onclose = () => {
      if (dialog.returnValue === 'confirm') then();
    };
    dialog.returnValue = '';
    dialog.showModal();
  };
  const scale = (event) => {
    event.preventDefault();
    const n = Number(input.value);
    if (input.value === '' || !Number.isInteger(n) || n < 0) return setNotice(say.badInstances);
    run('Scale', 'PUT', (id) => `${v2AppPath(id)}?force=true`, { instances: n });
  };
  const running = () => getApp()?.status?.running ?? 0;
  const wanted = () => getApp()?.spec?.instances ?? 0;
  const suspendOrResume = () => {
    if (wanted() > 0) confirm(say.confirmSuspend(marathonIdOf(getApp()), running()), () => run('Suspend', 'PUT', (id) => `${v2AppPath(id)}?force=true`, { instances: 0 }));
    else run('Resume', 'PUT', (id) => `${v2AppPath(id)}?force=true`, { instances: Math.max(1, Number(input.value) || 1) });
  };
  return [
    h('form', { class: 'scale', onsubmit: scale },
      h('label', { for: 'scale-input' }, 'Instances'), input,
      h('button', { type: 'submit', 'data-testid': 'scale-button' }, 'Scale')),
    h('button', { type: 'button', 'data-testid': 'restart-button', onclick: () => run('Restart', 'POST', (id) => `${v2AppPath(id)}/restart?force=true`) }, 'Restart'),
    h('button', { type: 'button', 'data-testid': 'suspend-button', onclick: suspendOrResume }, say.suspend),
    h('button', { type: 'button', class: 'danger', 'data-testid': 'delete-button', onclick: () => getApp() && confirm(say.confirmDelete(marathonIdOf(getApp()), running()), () => run('Delete', 'DELETE', (id) => `${v2AppPath(id)}?force=true`)) }, 'Delete…'),
  ];
}
