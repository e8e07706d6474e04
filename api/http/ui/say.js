// Every sentence the dashboard shows, in one place.
export const say = {
  live: { connected: 'live', reconnecting: 'reconnecting…' },
  noApps: 'No Apps yet: apply one with `capstan apply -f` or POST /v2/apps.',
  noTasks: 'No tasks.',
  noHealthChecks: 'no checks',
  suspend: 'Suspend…',
  resume: 'Resume',
  appGone: (key) => `App ${key} does not exist (any more).`,
  confirmDelete: (id, n) => `Delete ${id}? This stops its ${n} task${n === 1 ? '' : 's'} and removes the App.`,
  confirmSuspend: (id, n) => `Suspend ${id}? This stops its ${n} task${n === 1 ? '' : 's'} (scales to 0).`,
  actionFailed: (what, status, message) => `${what} failed (${status}): ${message}`,
  actionDone: (what, id) => `${what} ${id}: accepted`,
  badInstances: 'Instances must be a whole number, 0 or more.',
};
