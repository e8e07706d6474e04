import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiContext } from './context.ts';
import { pathToFileURL } from 'node:url';
import { acceptsHtml, findUiDir, uiFileOf, uiRoutes, UI_DIR } from './ui.ts';

describe('the dashboard route serves api/http/ui/ as static files', () => {
  const server = Fastify();
  beforeAll(async () => {
    // The route reads only files: it needs nothing from the context.
    await uiRoutes()(server, {} as ApiContext);
    await server.ready();
  });
  afterAll(() => server.close());

  it.each([
    ['/ui/', 'text/html; charset=utf-8', 'no-cache'],
    ['/ui/index.html', 'text/html; charset=utf-8', 'no-cache'],
    ['/ui/main.js', 'text/javascript; charset=utf-8', 'max-age=60'],
    ['/ui/health-bar.js', 'text/javascript; charset=utf-8', 'max-age=60'],
    ['/ui/style.css', 'text/css; charset=utf-8', 'max-age=60'],
  ])('GET %s → 200 %s, cache-control %s', async (url, type, cache) => {
    const response = await server.inject({ url });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(type);
    expect(response.headers['cache-control']).toBe(cache);
    expect(response.body.length).toBeGreaterThan(0);
  });

  it.each(['/ui/../ui.ts', '/ui/%2e%2e/ui.ts', '/ui/..%2fui.ts', '/ui/%2e%2e%2f%2e%2e%2fpackage.json', '/ui/nothing.js', '/ui/ui.test.ts'])(
    'GET %s → 404',
    async (url) => {
      const response = await server.inject({ url });
      expect(response.statusCode).toBe(404);
      expect(response.body).not.toContain('import');
    },
  );

  it('sends a browser asking for / to /ui/, and answers other clients 404', async () => {
    const browser = await server.inject({ url: '/', headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(browser.statusCode).toBe(302);
    expect(browser.headers.location).toBe('/ui/');
    const curl = await server.inject({ url: '/', headers: { accept: '*/*' } });
    expect(curl.statusCode).toBe(404);
    const bare = await server.inject({ url: '/ui' });
    expect(bare.statusCode).toBe(302);
    expect(bare.headers.location).toBe('/ui/');
  });
});

describe('uiFileOf: a /ui/ path as a file of the folder', () => {
  it.each([
    ['', `${UI_DIR}index.html`],
    ['main.js', `${UI_DIR}main.js`],
    ['../ui.ts', null],
    ['a/../../ui.ts', null],
    ['/etc/passwd.html', null],
    ['..%2fx.js', `${UI_DIR}..%2fx.js`],
    ['readme.md', null],
    ['x\0.js', null],
  ])('%j → %j', (path, expected) => {
    expect(uiFileOf(UI_DIR, path)).toBe(expected);
  });
});

describe('acceptsHtml: whether / is asked by a browser', () => {
  it.each([
    [undefined, false],
    ['*/*', false],
    ['application/json', false],
    ['text/html', true],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', true],
    ['application/json, text/html;q=0.5', true],
  ])('%j → %s', (accept, expected) => {
    expect(acceptsHtml(accept)).toBe(expected);
  });
});

describe('findUiDir: the dashboard files from the sources or from a bundle', () => {
  const repository = new URL('../../', import.meta.url);
  it.each([
    ['the sources', new URL('api/http/ui.ts', repository).href],
    ["a checkout's bundle", new URL('node_modules/.cache/capstan/cli/main/0123abcd/chunk-X.mjs', repository).href],
  ])('from %s → api/http/ui/', (_where, moduleUrl) => {
    expect(findUiDir(moduleUrl)).toBe(UI_DIR);
    expect(pathToFileURL(UI_DIR).pathname).toMatch(/\/api\/http\/ui\/$/);
  });
});
