// Marathon's clients send `Content-Type: application/json` on every request, a DELETE's empty body
// included (thefactory's Python client does), and Marathon (Jersey) accepts that. fastify's own JSON
// parser refuses an empty body with that type (400): this one reads it as no body, and parses every
// other body with fastify's parser (its prototype-poisoning checks kept).
import type { FastifyInstance } from 'fastify';

export function acceptEmptyJsonBodies(server: FastifyInstance): void {
  const parse = server.getDefaultJsonParser('error', 'error');
  server.removeContentTypeParser('application/json');
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    return parse(request, body as string, done);
  });
}
