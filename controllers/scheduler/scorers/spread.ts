import { utilisationAfter, type Scorer } from './scorer.ts';

/**
 * Spread (the default): fewer instances of the same App on the node first, then the emptier node.
 * Instances of one App on separate nodes survive a node's loss; emptier nodes keep headroom.
 */
export const spreadApp: Scorer = {
  name: 'spread-app',
  weight: 2,
  score: (task, node, snapshot) => 1 / (1 + (snapshot.appCounts(task.app).get(node.name) ?? 0)),
};

export const leastAllocated: Scorer = {
  name: 'least-allocated',
  weight: 1,
  score: (task, node, snapshot) => 1 - utilisationAfter(task, node, snapshot),
};
