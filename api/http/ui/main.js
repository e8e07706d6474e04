// The dashboard's entry: a hash router (#/apps, #/apps/<ns>/<name>); each page owns one event
// stream and reports its state, shown as body[data-live] and in the header.
import { appPage } from './app-page.js';
import { appsPage } from './apps-page.js';
import { say } from './say.js';

const root = /** @type {HTMLElement} */ (document.getElementById('view'));
const liveText = /** @type {HTMLElement} */ (document.getElementById('live-state'));
let stopPage = () => {};

function onState(state) {
  document.body.dataset.live = state;
  liveText.textContent = say.live[state];
}

function route() {
  stopPage();
  onState('reconnecting');
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'apps' && parts.length === 3) {
    stopPage = appPage({ root, namespace: parts[1], name: parts[2], onState });
  } else {
    stopPage = appsPage({ root, onState });
  }
  root.focus({ preventScroll: true });
}

window.addEventListener('hashchange', route);
route();
