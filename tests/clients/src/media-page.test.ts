// An upload from a page in Chromium, as a frontend without a GraphQL
// client sends one: the File of an <input type=file> (playwright's
// setInputFiles), fetch with FormData in the multipart request's form,
// cross-origin to the server so the preflight-forcing header makes the
// browser ask CORS first; the answer's url shown in an <img>. Without the
// header the browser sends the form with no preflight at all (a "simple"
// request, as a form on any site could), and the server refuses it; with
// it, a page of an origin CORS does not allow never gets to send it.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { type Server as HttpServer, createServer } from 'node:http';
import { after, before, test } from 'node:test';

import type { Browser, Page } from 'playwright-core';

import { launch } from './graphiql-page.js';
import { png } from './images.js';
import { type Server, freePort, post, startServer } from './server.js';

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>upload</title></head><body>
<input type="file" accept="image/*">
<img alt="">
<script>
const UPLOAD = 'mutation($file: Upload!, $alt: String) { uploadMedia(file: $file, alt: $alt) { media { id url previewUrl width height alt } errors { code } } }';
window.uploads = {
  // uploadMedia as the multipart request spec has it: operations (the file
  // variable null), map (which form field goes where), then the file.
  async send(api, token, preflight) {
    const file = document.querySelector('input[type=file]').files[0];
    const form = new FormData();
    form.append('operations', JSON.stringify({ query: UPLOAD, variables: { file: null, alt: file.name } }));
    form.append('map', JSON.stringify({ 0: ['variables.file'] }));
    form.append('0', file);
    const headers = token ? { authorization: 'Bearer ' + token } : {};
    if (preflight) headers['GraphQL-Require-Preflight'] = '1'; // else HTTP 400
    try {
      const response = await fetch(api, { method: 'POST', headers, body: form });
      return { status: response.status, body: await response.json() };
    } catch (e) {
      return { failed: String(e) };
    }
  },
  show(url) {
    const img = document.querySelector('img');
    return new Promise((done, fail) => {
      img.onload = () => done({ width: img.naturalWidth, height: img.naturalHeight });
      img.onerror = () => fail(new Error('the image did not load: ' + url));
      img.src = url;
    });
  },
};
</script></body></html>`;

interface Sent {
  status?: number;
  body?: {
    data?: { uploadMedia: { media: Record<string, unknown> | null; errors: Array<{ code: string }> } } | null;
    errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
  };
  failed?: string;
}

let server: Server;
let pageServer: HttpServer;
let port: number;
let browser: Browser;

before(async () => {
  port = await freePort();
  pageServer = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise<void>((done) => pageServer.listen(port, '127.0.0.1', done));
  // http://localhost:PORT is allowed; the same page at http://127.0.0.1:PORT is another origin, not.
  server = await startServer({ CORS_ORIGINS: `http://localhost:${port}` });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((done) => pageServer?.close(done));
});

/** The page at `origin` with `name` chosen in its file input. */
async function pageWithFile(origin: string, name: string, bytes: Uint8Array): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.setInputFiles('input[type=file]', { name, mimeType: 'image/png', buffer: Buffer.from(bytes) });
  return page;
}

async function signUp(handle: string): Promise<string> {
  const answer = await post(
    server.url,
    'mutation($i: RegisterInput!) { register(input: $i) { accessToken errors { code } } }',
    { i: { email: `${handle}@example.com`, password: 'media-page-passphrase', handle } },
  );
  const register = answer.data?.['register'] as { accessToken: string | null } | undefined;
  assert.ok(register?.accessToken, JSON.stringify(answer));
  return register.accessToken;
}

/** How many objects the media store holds. */
function stored(): number {
  try {
    return readdirSync(server.media, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
  } catch {
    return 0; // no upload yet, no folder
  }
}

test('a page uploads the file of its input cross-origin and shows the image from url', async () => {
  const token = await signUp('page_upload');
  const page = await pageWithFile(`http://localhost:${port}`, 'gradient.png', png(600, 300));

  const sent = await page.evaluate(([api, t]) => window.uploads.send(api, t, true), [server.url, token] as const);
  assert.equal(sent.failed, undefined);
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  const { media, errors } = sent.body!.data!.uploadMedia;
  assert.deepEqual(errors, []);
  assert.ok(media);
  assert.deepEqual([media['width'], media['height'], media['alt']], [600, 300, 'gradient.png']);

  const full = await page.evaluate((url) => window.uploads.show(url), String(media['url']));
  assert.deepEqual(full, { width: 600, height: 300 });
  const preview = await page.evaluate((url) => window.uploads.show(url), String(media['previewUrl']));
  assert.deepEqual(preview, { width: 400, height: 200 });
  await page.close();
});

test('an upload without the preflight header reaches the server from a browser and is refused', async () => {
  const page = await pageWithFile(`http://localhost:${port}`, 'forged.png', png(32, 32));
  const before = stored();

  // No header and no token: nothing makes the browser preflight, as with a
  // form posted from any site; the server answers 400.
  const sent = await page.evaluate((api) => window.uploads.send(api, null, false), server.url);
  assert.equal(sent.failed, undefined);
  assert.equal(sent.status, 400);
  assert.equal(sent.body?.errors?.[0]?.extensions?.['code'], 'BAD_REQUEST');
  assert.match(sent.body?.errors?.[0]?.message ?? '', /GraphQL-Require-Preflight/);
  assert.equal(stored(), before);
  await page.close();
});

test('with the header, a page of an origin CORS does not allow cannot send the upload', async () => {
  const token = await signUp('page_foreign');
  const page = await pageWithFile(`http://127.0.0.1:${port}`, 'foreign.png', png(32, 32));
  const before = stored();

  // The preflight gets no Access-Control-Allow-Origin: the POST never leaves.
  const sent = await page.evaluate(([api, t]) => window.uploads.send(api, t, true), [server.url, token] as const);
  assert.match(sent.failed ?? '', /TypeError/);
  assert.equal(sent.status, undefined);
  assert.equal(stored(), before);
  await page.close();
});

declare global {
  interface Window {
    uploads: {
      send(api: string, token: string | null, preflight: boolean): Promise<Sent>;
      show(url: string): Promise<{ width: number; height: number }>;
    };
  }
}
