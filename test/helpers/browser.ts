// A real Chromium for the dashboard tests: Debian's /usr/bin/chromium driven headless by
// playwright-core (nothing is downloaded). Every page it opens records its console errors and
// uncaught page errors, so a test can assert there were none; screenshots go to
// node_modules/.cache/ui-screenshots/ — test artifacts, ignored by git with node_modules.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const SCREENSHOT_DIR = join(import.meta.dirname, '..', '..', 'node_modules', '.cache', 'ui-screenshots');

/** Readable at 1280×800: the viewport the issue names. */
export const VIEWPORT = { width: 1280, height: 800 };

export interface TestPage {
  page: Page;
  /** Console messages of type "error" and uncaught exceptions, in order, as text. */
  errors: string[];
  /** Saves a full-page screenshot as <name>.png in SCREENSHOT_DIR; resolves to its path. */
  screenshot(name: string): Promise<string>;
}

export interface TestBrowser {
  open(url: string): Promise<TestPage>;
  close(): Promise<void>;
}

/** Launches Chromium headless; --no-sandbox when running as root, where Chromium's sandbox refuses to start. */
export async function launchBrowser(): Promise<TestBrowser> {
  const asRoot = process.getuid?.() === 0;
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: asRoot ? ['--no-sandbox'] : [] });
  const context = await browser.newContext({ viewport: VIEWPORT });
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return {
    async open(url) {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(`console: ${message.text()} (${message.location().url})`);
      });
      page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
      await page.goto(url);
      return {
        page,
        errors,
        async screenshot(name) {
          const path = join(SCREENSHOT_DIR, `${name}.png`);
          await page.screenshot({ path, fullPage: true });
          return path;
        },
      };
    },
    async close() {
      await browser.close();
    },
  };
}
