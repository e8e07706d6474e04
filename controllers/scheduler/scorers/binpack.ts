import { utilisationAfter, type Scorer } from './scorer.ts';

/** Bin-packing: the fullest node that still fits, so whole nodes stay free for big tasks. */
export const mostAllocated: Scorer = {
  name: 'most-allocated',
  weight: 1,
  score: (task, node, snapshot) => utilisationAfter(task, node, snapshot),
};
