// Marathon's error bodies, in one place, so every v2 route answers a failure the way Marathon's
// clients parse it: `{message}` for 400, 404 and 409 (with the deployments holding the lock), and
// `{message: "Object is not valid", details: [{path, errors}]}` for 422, the shape Marathon's
// validation failures take (paths as JSON pointers, "/" for the document itself).
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import type { Problem } from '../manifest.ts';

export const say = {
  notValid: 'Object is not valid',
} as const;

export interface ProblemDetail {
  path: string;
  errors: string[];
}

/** 404 `{message}`. */
export function notFound(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(404).send({ message });
}

/** 409 `{message, deployments}`: the object is locked by these deployments (`?force=true` overrides). */
export function conflict(reply: FastifyReply, message: string, deployments: { id: string }[]): FastifyReply {
  return reply.code(409).send({ message, deployments: deployments.map(({ id }) => ({ id })) });
}

/** 422 `{message: "Object is not valid", details}`. */
export function unprocessable(reply: FastifyReply, details: ProblemDetail[]): FastifyReply {
  return reply.code(422).send({ message: say.notValid, details });
}

/** 400 `{message, details?}`. */
export function badRequest(reply: FastifyReply, message: string, details?: unknown): FastifyReply {
  return reply.code(400).send(details === undefined ? { message } : { message, details });
}

/** `["spec", "ports", 0]` → `/spec/ports/0`; the document itself is `/`. */
export function pointerOf(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '/' : `/${path.map((segment) => String(segment).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
}

/**
 * zod's safeParse of one part of a request (body, query, params). Valid: the parsed value. Invalid:
 * a 422 with one detail per field is sent, and undefined returned; the route then simply returns.
 */
export function parseOr422<T>(schema: z.ZodType<T>, value: unknown, reply: FastifyReply): T | undefined {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const byPath = new Map<string, string[]>();
  for (const issue of parsed.error.issues) {
    const path = pointerOf(issue.path);
    byPath.set(path, [...(byPath.get(path) ?? []), issue.message]);
  }
  unprocessable(reply, [...byPath].map(([path, errors]) => ({ path, errors })));
  return undefined;
}

/**
 * Problems of the apply engine (api/manifest.ts, `spec.containers[0].cmd` paths) → 422 details, one
 * per field, each error saying what was expected and what was found.
 */
export function detailsOfProblems(problems: readonly Pick<Problem, 'path' | 'expected' | 'found'>[]): ProblemDetail[] {
  const byPath = new Map<string, string[]>();
  for (const problem of problems) {
    const path = pointerOf(segmentsOf(problem.path));
    byPath.set(path, [...(byPath.get(path) ?? []), `expected ${problem.expected}, found ${problem.found}`]);
  }
  return [...byPath].map(([path, errors]) => ({ path, errors }));
}

/** `spec.containers[0].cmd` → `["spec", "containers", 0, "cmd"]`. */
function segmentsOf(path: string): (string | number)[] {
  const segments: (string | number)[] = [];
  // formatPath's three forms: `.name`, `[0]` and `["a key/with dots"]`.
  for (const match of path.matchAll(/\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|([^.[\]]+)/g)) {
    if (match[1] !== undefined) segments.push(Number(match[1]));
    else if (match[2] !== undefined) segments.push(JSON.parse(match[2]) as string);
    else segments.push(match[3]!);
  }
  return segments;
}
