// zod schemas for the status fields every controller-managed kind shares (api/object.ts's Condition
// and CommonStatus), so a user's status schema starts from them instead of spelling them again:
//   status: commonStatusSchema.extend({ instances: z.number().int().optional() })
import { z } from 'zod';
import type { CommonStatus, Condition } from '../api/object.ts';

export const conditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string(),
});

/** observedGeneration and conditions: extend it with the kind's own status fields. */
export const commonStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).optional(),
});

// The schemas and the interfaces the rest of Capstan uses must not drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const conditionsAgree: Same<z.infer<typeof conditionSchema>, Condition> = true;
const statusAgrees: Same<z.infer<typeof commonStatusSchema>, CommonStatus> = true;
void conditionsAgree;
void statusAgrees;
