// Passkeys end to end in Chromium with its virtual authenticator (DevTools'
// WebAuthn domain): a page at http://localhost:PORT (a secure context, whose
// origin is the relying party's) registers a passkey for a signed-in
// account, then signs in with it and no email, and the session is aal2 with
// amr ["hwk"]. Two instances of the binary share one SQLite file: a sign-in
// begun on one is finished on the other, as behind a load balancer.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { type Server as HttpServer, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import type { Browser, Page } from 'playwright-core';

import { launch } from './graphiql-page.js';
import { BINARY, type Server, freePort, post, startServer } from './server.js';

// The page's helpers: each GraphQL call goes from the page (so CORS is
// exercised) and each WebAuthn call is the browser's own. The options are
// the server's JSON, parsed by the browser's own parse…FromJSON.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>passkeys</title></head><body>
<script>
async function gql(api, query, variables, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = 'Bearer ' + token;
  const response = await fetch(api, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return response.json();
}
window.passkeys = {
  async beginRegistration(api, token) {
    const body = await gql(api, 'mutation { beginPasskeyRegistration { challengeId options } }', {}, token);
    return body.data.beginPasskeyRegistration;
  },
  async create(options) {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    return (await navigator.credentials.create({ publicKey })).toJSON();
  },
  finishRegistration(api, token, challengeId, credential, name) {
    return gql(api, 'mutation($i: FinishPasskeyRegistrationInput!) { finishPasskeyRegistration(input: $i) { passkey { id name lastUsedAt } errors { code field } } }',
      { i: { challengeId, credential, name } }, token);
  },
  async beginLogin(api) {
    const body = await gql(api, 'mutation { beginPasskeyLogin { challengeId options } }', {});
    return body.data.beginPasskeyLogin;
  },
  async get(options) {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    return (await navigator.credentials.get({ publicKey })).toJSON();
  },
  finishLogin(api, challengeId, credential) {
    return gql(api, 'mutation($i: FinishPasskeyLoginInput!) { finishPasskeyLogin(input: $i) { accessToken refreshToken user { email } errors { code field } } }',
      { i: { challengeId, credential } });
  },
};
</script></body></html>`;

interface Begun {
  challengeId: string;
  options: Record<string, unknown>;
}
type Answer = Awaited<ReturnType<typeof post>>;

let dir: string;
let a: Server;
let b: Server;
let pageServer: HttpServer;
let origin: string;
let browser: Browser;

before(async () => {
  const port = await freePort();
  origin = `http://localhost:${port}`;
  pageServer = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise<void>((done) => pageServer.listen(port, '127.0.0.1', done));
  dir = mkdtempSync(join(tmpdir(), 'sns-passkeys-'));
  const env = {
    DATABASE_URL: `sqlite://${dir}/sns.db?mode=rwc`,
    CORS_ORIGINS: origin,
    WEBAUTHN_RP_ID: 'localhost',
    WEBAUTHN_ORIGIN: origin,
    MAIL_URL: `file://${dir}/mail`,
  };
  // One after the other: the first migrates the shared file.
  a = await startServer(env);
  b = await startServer(env);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await a?.stop();
  await b?.stop();
  await new Promise((done) => pageServer?.close(done));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A page of the relying party's origin with a virtual platform authenticator. */
async function authenticatorPage(): Promise<{ page: Page; credentials: () => Promise<Array<Record<string, unknown>>> }> {
  const page = await browser.newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await page.goto(`${origin}/`);
  const credentials = async () =>
    (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials as unknown as Array<
      Record<string, unknown>
    >;
  return { page, credentials };
}

/** An operator's command (`sns-api users …`) on the instances' database. */
function operator(...args: string[]): void {
  execFileSync(BINARY, args, {
    env: {
      PATH: process.env['PATH'] ?? '',
      DATABASE_URL: `sqlite://${dir}/sns.db?mode=rwc`,
      JWT_SECRET: 'client-tests-secret-0123456789-abcdefghijkl',
      MAIL_URL: `file://${dir}/mail`,
    },
    stdio: 'ignore',
  });
}

/** A passkey sign-in from the page: begun on `begin`, finished on `finish`. */
async function signIn(page: Page, begin: Server, finish: Server): Promise<Record<string, unknown>> {
  const begun = await page.evaluate((api) => window.passkeys.beginLogin(api), begin.url);
  const assertion = await page.evaluate((o) => window.passkeys.get(o), begun.options);
  return data(
    await page.evaluate(([api, id, c]) => window.passkeys.finishLogin(api, id, c), [finish.url, begun.challengeId, assertion] as const),
    'finishPasskeyLogin',
  );
}

/** Waits (20 s at most) for a mail to `to` with `subject` in the instances' shared mail folder. */
async function mailed(to: string, subject: string): Promise<void> {
  const folder = join(dir, 'mail');
  const deadline = Date.now() + 20_000;
  for (;;) {
    const files = existsSync(folder) ? readdirSync(folder) : [];
    const mails = files.map((f) => readFileSync(join(folder, f), 'utf8'));
    if (mails.some((m) => m.includes(`Subject: ${subject}`) && m.includes(to))) return;
    if (Date.now() > deadline) throw new Error(`no mail "${subject}" to ${to}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The claims of a JWT, unverified (the server verified it). */
function claims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

function data(answer: Answer, field: string): Record<string, unknown> {
  assert.equal(answer.errors, undefined, JSON.stringify(answer));
  return (answer.data?.[field] ?? {}) as Record<string, unknown>;
}

test('a passkey registered in Chromium signs in with no email, aal2, on either instance', async () => {
  const { page, credentials } = await authenticatorPage();
  const email = `passkey-${Date.now()}@example.com`;
  const registered = data(
    await post(a.url, 'mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } errors { code } } }', {
      i: { email, password: 'passkey-passphrase' },
    }),
    'register',
  );
  const token = String(registered['accessToken']);
  const userId = String((registered['user'] as Record<string, unknown>)['id']);

  // Register: begun on A, answered by the authenticator, finished on A.
  const begun = await page.evaluate(([api, t]) => window.passkeys.beginRegistration(api, t), [a.url, token] as const);
  assert.equal((begun.options['authenticatorSelection'] as Record<string, unknown>)['residentKey'], 'required');
  const created = await page.evaluate((o) => window.passkeys.create(o), begun.options);
  const finished = data(
    await page.evaluate(
      ([api, t, id, c]) => window.passkeys.finishRegistration(api, t, id, c, '  virtual  '),
      [a.url, token, begun.challengeId, created] as const,
    ),
    'finishPasskeyRegistration',
  );
  assert.deepEqual(finished['errors'], []);
  const passkey = finished['passkey'] as Record<string, unknown>;
  assert.equal(passkey['name'], 'virtual');
  assert.equal(passkey['lastUsedAt'], null);

  // The authenticator keeps it (discoverable), under the account's id.
  const held = await credentials();
  assert.equal(held.length, 1);
  assert.equal(held[0]?.['isResidentCredential'], true);
  const handle = Buffer.from(String(held[0]?.['userHandle']), 'base64').toString('hex');
  assert.equal(handle, userId.replaceAll('-', ''));

  await mailed(email, 'A passkey was added to your account');

  // Registering again names it, so the authenticator makes no second one.
  const again = await page.evaluate(([api, t]) => window.passkeys.beginRegistration(api, t), [a.url, token] as const);
  const excluded = again.options['excludeCredentials'] as Array<Record<string, unknown>>;
  assert.deepEqual(
    excluded.map((c) => c['id']),
    [created['id']],
  );

  // Enrolling changed no session's level.
  assert.equal(claims(token)['aal'], 'aal1');
  data(await post(a.url, 'mutation { logout { revokedSessions } }', {}, token), 'logout');

  // Sign in on A: no email, no token.
  const login = await page.evaluate((api) => window.passkeys.beginLogin(api), a.url);
  assert.deepEqual(login.options['allowCredentials'] ?? [], [], 'no credential named: discoverable');
  const assertion = await page.evaluate((o) => window.passkeys.get(o), login.options);
  const signedIn = data(
    await page.evaluate(([api, id, c]) => window.passkeys.finishLogin(api, id, c), [a.url, login.challengeId, assertion] as const),
    'finishPasskeyLogin',
  );
  assert.deepEqual(signedIn['errors'], []);
  assert.equal((signedIn['user'] as Record<string, unknown>)['email'], email);
  const access = String(signedIn['accessToken']);
  assert.deepEqual(claims(access)['amr'], ['hwk']);
  assert.equal(claims(access)['aal'], 'aal2');
  const me = data(await post(a.url, '{ me { passkeys { id lastUsedAt } } }', {}, access), 'me');
  const listed = me['passkeys'] as Array<Record<string, unknown>>;
  assert.deepEqual(
    listed.map((p) => p['id']),
    [passkey['id']],
  );
  assert.notEqual(listed[0]?.['lastUsedAt'], null);

  // The same answer again: its challenge was used.
  const replayed = data(
    await page.evaluate(([api, id, c]) => window.passkeys.finishLogin(api, id, c), [a.url, login.challengeId, assertion] as const),
    'finishPasskeyLogin',
  );
  assert.deepEqual(replayed['errors'], [{ code: 'INVALID_TOKEN', field: ['input', 'challengeId'] }]);
  assert.equal(replayed['accessToken'], null);

  // Begun on A, finished on B: the ceremony lives in the shared database.
  const across = await page.evaluate((api) => window.passkeys.beginLogin(api), a.url);
  const acrossAssertion = await page.evaluate((o) => window.passkeys.get(o), across.options);
  const onB = data(
    await page.evaluate(
      ([api, id, c]) => window.passkeys.finishLogin(api, id, c),
      [b.url, across.challengeId, acrossAssertion] as const,
    ),
    'finishPasskeyLogin',
  );
  assert.deepEqual(onB['errors'], []);
  assert.equal(claims(String(onB['accessToken']))['aal'], 'aal2');
  const onBMe = data(await post(b.url, '{ me { id } }', {}, String(onB['accessToken'])), 'me');
  assert.equal(onBMe['id'], userId);

  // A disabled account: the passkey proves who it is, and is refused.
  operator('users', 'disable', email);
  const disabled = await signIn(page, a, b);
  assert.deepEqual(disabled['errors'], [{ code: 'ACCOUNT_DISABLED', field: null }]);
  assert.equal(disabled['accessToken'], null);
  operator('users', 'enable', email);
  const enabled = await signIn(page, b, a);
  assert.deepEqual(enabled['errors'], []);

  // Removed (with an aal2 session), it signs in no more.
  const removed = data(
    await post(
      b.url,
      'mutation($id: ID!) { removePasskey(id: $id) { passkey { id } errors { code } } }',
      { id: passkey['id'] },
      String(enabled['accessToken']),
    ),
    'removePasskey',
  );
  assert.deepEqual(removed['errors'], []);
  const refused = await signIn(page, b, b);
  assert.deepEqual(refused['errors'], [{ code: 'INVALID_CREDENTIALS', field: ['input', 'credential'] }]);
  await mailed(email, 'A passkey was removed from your account');
  await page.close();
});

declare global {
  interface Window {
    passkeys: {
      beginRegistration(api: string, token: string): Promise<Begun>;
      create(options: Record<string, unknown>): Promise<Record<string, unknown>>;
      finishRegistration(
        api: string,
        token: string,
        challengeId: string,
        credential: Record<string, unknown>,
        name: string,
      ): Promise<Answer>;
      beginLogin(api: string): Promise<Begun>;
      get(options: Record<string, unknown>): Promise<Record<string, unknown>>;
      finishLogin(api: string, challengeId: string, credential: Record<string, unknown>): Promise<Answer>;
    };
  }
}
