// GraphiQL at /graphql in Chromium (graphiql-page.ts): run `register`, paste
// the token into the headers pane, run `me`, see the email. A screenshot is
// saved and its path printed.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';

import type { Browser } from 'playwright-core';

import { ARTIFACTS, launch, open, paste, run, serveCdnLocally } from './graphiql-page.js';
import { type Server, startServer } from './server.js';

let server: Server;
let browser: Browser;
before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('GraphiQL registers, takes the token in the headers pane, and shows me', async () => {
  const page = await browser.newPage();
  const refused: string[] = [];
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await serveCdnLocally(page, server.origin, refused);
  await open(page, server.url);

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
