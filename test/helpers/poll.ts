// The tests wait on observable state with the SDK's bounded poll, never with a fixed sleep: the same
// `until` a user's controller tests get from capstan/sdk/testing.
export { until } from '../../sdk/testing.ts';
