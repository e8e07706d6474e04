import { describe, expect, it } from 'vitest';
import type { MarathonEvent } from '../api/marathon/events.ts';
import { formatEventLine } from './events-command.ts';

const AT = '2026-03-01T10:00:00.000Z';
const step = { actions: [{ action: 'StartApplication', app: '/prod/web' }] };

describe('formatEventLine: one event per line, time, type, app, task and what happened', () => {
  it.each<[string, MarathonEvent, string]>([
    [
      'a task running, with its node and ports',
      { eventType: 'status_update_event', timestamp: AT, appId: '/prod/web', taskId: 'prod_web.u1', taskStatus: 'TASK_RUNNING', host: '127.0.0.1', ports: [31000, 31001], message: '' },
      `${AT}  status_update_event  /prod/web  prod_web.u1  TASK_RUNNING on 127.0.0.1:31000,31001`,
    ],
    [
      'a task not placed yet, with its message',
      { eventType: 'status_update_event', timestamp: AT, appId: '/web', taskId: 'web.u2', taskStatus: 'TASK_STAGING', host: null, ports: [], message: 'waiting for a node' },
      `${AT}  status_update_event  /web  web.u2  TASK_STAGING (waiting for a node)`,
    ],
    ['an instance condition', { eventType: 'instance_changed_event', timestamp: AT, runSpecId: '/web', instanceId: 'web.u2', condition: 'Killing' }, `${AT}  instance_changed_event  /web  web.u2  Killing`],
    ['health turning bad', { eventType: 'health_status_changed_event', timestamp: AT, appId: '/web', taskId: 'web.u2', alive: false }, `${AT}  health_status_changed_event  /web  web.u2  unhealthy`],
    [
      'an unhealthy kill',
      { eventType: 'unhealthy_task_kill_event', timestamp: AT, appId: '/web', taskId: 'web.u2', reason: 'killed after 3 consecutive failed health checks' },
      `${AT}  unhealthy_task_kill_event  /web  web.u2  killed: killed after 3 consecutive failed health checks`,
    ],
    [
      'a definition posted',
      { eventType: 'api_post_event', timestamp: AT, clientIp: null, uri: '/v2/apps/prod/web', appDefinition: { id: '/prod/web', instances: 3 } },
      `${AT}  api_post_event  /prod/web  -  app definition posted (instances 3)`,
    ],
    ['a deployment step', { eventType: 'deployment_info', timestamp: AT, plan: { id: 'd-1', steps: [step] }, currentStep: step }, `${AT}  deployment_info  /prod/web  d-1  StartApplication /prod/web`],
    ['a deployment done', { eventType: 'deployment_success', timestamp: AT, id: 'd-1', plan: { id: 'd-1', steps: [step] } }, `${AT}  deployment_success  /prod/web  d-1`],
    ['a group change', { eventType: 'group_change_success', timestamp: AT, groupId: '/prod', version: AT }, `${AT}  group_change_success  /prod  -  version ${AT}`],
    ['a deleted app', { eventType: 'app_terminated_event', timestamp: AT, appId: '/web' }, `${AT}  app_terminated_event  /web  -`],
  ])('%s', (_scenario, event, line) => {
    expect(formatEventLine(event)).toBe(line);
  });
});
