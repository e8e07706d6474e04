// The dashboard's only I/O: a native-API watch as server-sent events (reconnecting with backoff),
// GETs, and Marathon /v2 actions. Same origin, so the browser sends the API's credentials.

const BACKOFF_MS = { first: 250, max: 10_000 };

/**
 * Watch a native-API collection. Each (re)connection starts with the current objects as ADDED:
 * `onReset` is called when a connection opens, so the caller drops what it knew (objects deleted
 * while disconnected would otherwise linger).
 * @param {{ path: string, onReset(): void, onEvent(type: string, object: any): void, onState(state: 'connected'|'reconnecting'): void }} options
 * @returns {() => void} stop
 */
export function watch(options) {
  let source;
  let timer;
  let delay = BACKOFF_MS.first;
  let stopped = false;
  const connect = () => {
    const separator = options.path.includes('?') ? '&' : '?';
    source = new EventSource(`${options.path}${separator}watch=true`);
    source.onopen = () => {
      delay = BACKOFF_MS.first;
      options.onReset();
      options.onState('connected');
    };
    for (const type of ['ADDED', 'MODIFIED', 'DELETED']) {
      source.addEventListener(type, (event) => options.onEvent(type, JSON.parse(event.data).object ?? JSON.parse(event.data)));
    }
    // ERROR (a watcher too slow, 410) and a dropped connection alike: reconnect with backoff.
    source.addEventListener('ERROR', () => retry());
    source.onerror = () => retry();
  };
  const retry = () => {
    source?.close();
    if (stopped || timer) return;
    options.onState('reconnecting');
    timer = setTimeout(() => {
      timer = undefined;
      connect();
    }, delay);
    delay = Math.min(delay * 2, BACKOFF_MS.max);
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}

/** @returns {Promise<any>} the JSON body, or null on 404 */
export async function getJson(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
  return response.json();
}

/** Marathon's id of an App: its annotation, else /<name> in default and /<ns>/<name> elsewhere. */
export function marathonIdOf(app) {
  const annotated = app.metadata.annotations?.['marathon.capstan.io/id'];
  if (annotated) return annotated;
  const { namespace, name } = app.metadata;
  return namespace === 'default' ? `/${name}` : `/${namespace}/${name}`;
}

/**
 * One Marathon /v2 call. Resolves to {ok: true} or {ok: false, status, message}.
 * @param {'PUT'|'POST'|'DELETE'} method
 */
export async function marathon(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.ok) return { ok: true };
  let message = response.statusText;
  try {
    const json = await response.json();
    message = json.message ?? message;
  } catch {
    // A body that is not JSON: the status text says enough.
  }
  return { ok: false, status: response.status, message };
}

/** `/v2/apps` + the id, each segment escaped. */
export const v2AppPath = (id) => `/v2/apps${id.split('/').map(encodeURIComponent).join('/')}`;
