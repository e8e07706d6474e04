// The ScheduledScale controller as a process of its own, leader-elected, beside `capstan up`:
//   node --conditions=capstan-source --import tsx examples/scheduled-scale/main.ts [--etcd URL]
// runControllers reads the flags, the environment and ~/.capstan/config.yaml as `capstan` does, and
// stops gracefully (exit 0) on SIGINT and SIGTERM; `--help` lists the flags.
import { runControllers } from 'capstan/sdk';
import { controllers, kinds } from './index.ts';

await runControllers({ controllers, kinds });
