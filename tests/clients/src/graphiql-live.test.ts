// GraphiQL in Chromium (graphiql-page.ts) runs a subscription over the
// socket: `postChanged` of a post, typed into the editor and run; the test
// likes the post over HTTP and the result pane shows the new likeCount.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';

import type { Browser } from 'playwright-core';

import { ARTIFACTS, launch, open, paste, response, serveCdnLocally } from './graphiql-page.js';
import { type Server, freePort, startServer } from './server.js';
import { like, signUp, write } from './social.js';

let server: Server;
let browser: Browser;
before(async () => {
  // The page's socket upgrade carries the page's origin, which is the
  // server's own: it must be one of CORS_ORIGINS.
  const port = await freePort();
  server = await startServer({
    BIND_ADDR: `127.0.0.1:${port}`,
    CORS_ORIGINS: `http://127.0.0.1:${port}`,
  });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('GraphiQL runs a postChanged subscription and shows each new likeCount', async () => {
  const author = await signUp(server.url, 'graphiql_author');
  const postId = await write(server.url, author, 'watch my likes');
  let fans = 0;
  const likeOnce = async () => like(server.url, await signUp(server.url, `graphiql_fan${fans++}`), postId);

  const page = await browser.newPage();
  const refused: string[] = [];
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await serveCdnLocally(page, server.origin, refused);
  await open(page, server.url);

  await paste(page, '.graphiql-query-editor', `subscription { postChanged(id: "${postId}") { likeCount } }`);
  await page.locator('.graphiql-execute-button').click();
  const shows = (count: number, timeout?: number) =>
    response(page, new RegExp(`"likeCount":\\s*${count}\\b`), timeout);

  // No acknowledgement of a subscribe: like until the pane shows the count
  // of the latest like, then the subscription is listening.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const count = await likeOnce();
    if (await shows(count, 1_000).then(() => true, () => false)) break;
    assert.ok(Date.now() < deadline, 'the pane never showed a likeCount');
  }
  const count = await likeOnce();
  const pane = await shows(count);
  assert.match(pane, /"postChanged"/);

  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = resolve(ARTIFACTS, 'graphiql-subscription.png');
  await page.screenshot({ path: shot });
  console.log(`GraphiQL subscription screenshot: ${shot}`);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(refused.filter((u) => !u.endsWith('favicon.ico')), []);
});
