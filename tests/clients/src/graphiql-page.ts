// GraphiQL at /graphql in Debian's headless Chromium. The page loads React
// and GraphiQL from unpkg; this machine has no internet, so those requests
// are answered from node_modules, from the same packages at the versions the
// page asks for (see package.json), and any other outside request is
// refused.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { type Browser, type Page, chromium } from 'playwright-core';

const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
export const ARTIFACTS = resolve(process.env['ARTIFACTS_DIR'] ?? 'artifacts');

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** `https://unpkg.com/graphiql@4.1.2/graphiql.min.js` → that file of node_modules/graphiql, if the installed version matches. */
function fromNodeModules(url: URL): Buffer | null {
  const m = /^\/((?:@[^/]+\/)?[^/@]+)@([^/]+)\/(.+)$/.exec(url.pathname);
  if (!m) return null;
  const [, name, wanted, file] = m as unknown as [string, string, string, string];
  const dir = resolve('node_modules', name);
  const { version } = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')) as { version: string };
  if (version !== wanted && !version.startsWith(`${wanted}.`)) {
    throw new Error(`the page asks for ${name}@${wanted}; node_modules has ${version}`);
  }
  return readFileSync(resolve(dir, file));
}

/** Requests to `origin` (the server) go through; unpkg's come from node_modules; others are refused and listed. */
export async function serveCdnLocally(page: Page, origin: string, refused: string[]): Promise<void> {
  await page.route(/^https?:\/\//, async (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin) return route.continue();
    const body = url.hostname === 'unpkg.com' ? fromNodeModules(url) : null;
    if (!body) {
      refused.push(url.href);
      return route.abort();
    }
    const type = url.pathname.endsWith('.css') ? 'text/css' : 'application/javascript';
    return route.fulfill({ body, contentType: type, headers: { 'access-control-allow-origin': '*' } });
  });
}

/** Opens GraphiQL at `url`, ready for typing. */
export async function open(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.locator('.graphiql-query-editor .CodeMirror').waitFor({ timeout: 20_000 });
}

/** Replaces the text of a GraphiQL editor the way a user pastes. */
export async function paste(page: Page, editor: string, text: string): Promise<void> {
  await page.locator(`${editor} .CodeMirror:visible`).first().click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
  if (editor === '.graphiql-query-editor') {
    // GraphiQL parses the query a moment after the last keystroke, and picks
    // the transport (the socket for a subscription) from that parse; it
    // stores the text in the same step, which is what is waited for here.
    await page.waitForFunction((t) => localStorage.getItem('graphiql:query') === t, text);
  }
}

/** The result pane once it matches `expect`. */
export async function response(page: Page, expect: RegExp, timeout = 15_000): Promise<string> {
  const pane = page.locator('.graphiql-response');
  await pane.filter({ hasText: expect }).waitFor({ timeout });
  return pane.innerText();
}

/** Clicks the run button and waits for a result matching `expect`. */
export async function run(page: Page, expect: RegExp): Promise<string> {
  await page.locator('.graphiql-execute-button').click();
  return response(page, expect);
}
