// Marathon pods ⇄ Capstan Apps, one file per direction: pod-from.ts (a definition → an App),
// pod-to.ts (an App → the definition Marathon shows) and pod-status.ts (GET /v2/pods/{id}::status).
export { podFromMarathon } from './pod-from.ts';
export { isMarathonPod, podToMarathon } from './pod-to.ts';
export { podStatusToMarathon } from './pod-status.ts';
