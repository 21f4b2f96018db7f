// GraphiQL at /graphql in Debian's headless Chromium: run `register`, paste
// the token into the headers pane, run `me`, see the email. The page loads
// React and GraphiQL from unpkg; this machine has no internet, so those
// requests are answered from node_modules, from the same packages at the
// versions the page asks for (see package.json), and any other outside
// request is refused. A screenshot is saved and its path printed.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';

import { type Browser, type Page, chromium } from 'playwright-core';

import { type Server, startServer } from './server.js';

const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(process.env['ARTIFACTS_DIR'] ?? 'artifacts');

let server: Server;
let browser: Browser;
before(async () => {
  server = await startServer();
  browser = await chromium.launch({
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
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

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

async function serveCdnLocally(page: Page, refused: string[]): Promise<void> {
  await page.route(/^https?:\/\//, async (route) => {
    const url = new URL(route.request().url());
    if (url.origin === server.origin) return route.continue();
    const body = url.hostname === 'unpkg.com' ? fromNodeModules(url) : null;
    if (!body) {
      refused.push(url.href);
      return route.abort();
    }
    const type = url.pathname.endsWith('.css') ? 'text/css' : 'application/javascript';
    return route.fulfill({ body, contentType: type, headers: { 'access-control-allow-origin': '*' } });
  });
}

/** Replaces the text of a GraphiQL editor the way a user pastes. */
async function paste(page: Page, editor: string, text: string): Promise<void> {
  await page.locator(`${editor} .CodeMirror:visible`).first().click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

async function run(page: Page, expect: RegExp): Promise<string> {
  await page.locator('.graphiql-execute-button').click();
  const response = page.locator('.graphiql-response');
  await response.filter({ hasText: expect }).waitFor({ timeout: 15_000 });
  return response.innerText();
}

test('GraphiQL registers, takes the token in the headers pane, and shows me', async () => {
  const page = await browser.newPage();
  const refused: string[] = [];
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await serveCdnLocally(page, refused);

  await page.goto(`${server.url}`);
  await page.locator('.graphiql-query-editor .CodeMirror').waitFor({ timeout: 20_000 });

  const email = `graphiql-${Date.now()}@example.com`;
  await paste(
    page,
    '.graphiql-query-editor',
    `mutation { register(input: {email: "${email}", password: "graphiql-passphrase"}) { accessToken user { email } errors { code } } }`,
  );
  const registered = await run(page, /accessToken/);
  const token = /"accessToken":\s*"([^"]+)"/.exec(registered)?.[1];
  assert.ok(token, `no token in the response: ${registered}`);

  await page.getByRole('button', { name: 'Headers' }).click();
  await paste(page, '.graphiql-editor-tool', `{"Authorization": "Bearer ${token}"}`);

  await paste(page, '.graphiql-query-editor', '{ me { email } }');
  const me = await run(page, /"me"/);
  assert.match(me, new RegExp(`"email":\\s*"${email.replace(/[.]/g, '\\.')}"`));

  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = resolve(ARTIFACTS, 'graphiql.png');
  await page.screenshot({ path: shot });
  console.log(`GraphiQL screenshot: ${shot}`);
  assert.deepEqual(pageErrors, []);
  console.log(`outside requests refused: ${JSON.stringify(refused)}`);
});
