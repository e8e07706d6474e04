// The tests' free ports come from where `capstan up` and the SDK's testing kit get theirs.
export { freePort } from '../../cli/local/free-port.ts';
