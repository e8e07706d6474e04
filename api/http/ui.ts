// The dashboard (issue 18): plain ES modules and CSS in api/http/ui/, served as they are — no build
// step — under /ui/. The page reads the native API (/api/v1, one watch stream per page) and acts
// through Marathon's /v2 routes, so the UI, the CLI and scripts go through the same API.
// `/` sends a browser to /ui/; any other client keeps getting a 404 there, as before.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RouteModule } from './context.ts';

/**
 * Where the dashboard's files live: beside this module when it runs from the sources (tsx, vitest);
 * else this module is in a bundle (node_modules/.cache/capstan/… in a checkout, bin/bundle.js;
 * dist/cli/ in a package, which ships the files as dist/api/http/ui/, scripts/build-package.mjs), and
 * the first folder above it holding api/http/ui/ has them.
 */
export function findUiDir(moduleUrl: string): string {
  const beside = fileURLToPath(new URL('./ui/', moduleUrl));
  if (existsSync(join(beside, 'index.html'))) return beside;
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const candidate = join(dir, 'api', 'http', 'ui') + sep;
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    if (dirname(dir) === dir) return beside; // nowhere: every file is then a 404
    dir = dirname(dir);
  }
}

export const UI_DIR = findUiDir(import.meta.url);

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export const say = {
  notFound: (path: string) => `no dashboard file ${path}`,
} as const;

/**
 * A path under /ui/ (as fastify hands it: already decoded, so it is not decoded again) as a file of
 * `root`, or null when it leaves the folder or has no content type the dashboard serves.
 */
export function uiFileOf(root: string, path: string): string | null {
  let relative = path;
  if (relative === '' || relative.endsWith('/')) relative += 'index.html';
  if (relative.includes('\0')) return null;
  const base = resolve(root);
  const file = resolve(base, relative);
  if (!file.startsWith(base + sep)) return null;
  if (!CONTENT_TYPES[extname(file)]) return null;
  return file;
}

/** Whether a request to `/` comes from a browser (it accepts HTML). */
export function acceptsHtml(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/html\b/.test(accept);
}

export function uiRoutes(options: { root?: string } = {}): RouteModule {
  const root = options.root ?? UI_DIR;
  return (server) => {
    server.get('/', async (request, reply) => {
      if (acceptsHtml(request.headers.accept)) return reply.redirect('/ui/', 302);
      return reply.code(404).send({ message: say.notFound('/') });
    });
    server.get('/ui', async (_request, reply) => reply.redirect('/ui/', 302));
    server.get('/ui/*', async (request, reply) => {
      const path = (request.params as { '*': string })['*'];
      const file = uiFileOf(root, path);
      if (!file) return reply.code(404).send({ message: say.notFound(path) });
      let body: Buffer;
      try {
        body = await readFile(file);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EISDIR') return reply.code(404).send({ message: say.notFound(path) });
        throw error;
      }
      // index.html is always revalidated so a new server's modules are picked up; the modules
      // themselves may be cached briefly.
      const cache = extname(file) === '.html' ? 'no-cache' : 'max-age=60';
      return reply.type(CONTENT_TYPES[extname(file)]!).header('cache-control', cache).send(body);
    });
  };
}

export const dashboardRoutes: RouteModule = uiRoutes();
