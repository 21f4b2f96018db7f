// urql against the real server, signing in with a second factor: TOTP
// turned on (codes from otpauth, as an authenticator app makes them), an
// older password-only session stepped up to aal2 for a sensitive mutation,
// then a sign-in that stops at MFA_REQUIRED with a ticket and finishes with
// `verifyMfa` after a mistyped code.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Authenticator, claims } from './authenticator.js';
import {
  ConfirmTotpDocument,
  EnrollTotpDocument,
  LoginDocument,
  LogoutDocument,
  MySecurityDocument,
  RegenerateRecoveryCodesDocument,
  RegisterDocument,
  VerifyMfaDocument,
} from './gql/graphql.js';
import { type Server, startServer } from './server.js';
import { TokenStore } from './tokens.js';
import { urqlClient } from './urql.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

const codes = (errors: ReadonlyArray<{ code: string }> | undefined) => (errors ?? []).map((e) => e.code);

test('urql turns TOTP on, steps a session up, and signs in with a ticket and a code', async () => {
  const tokens = new TokenStore();
  const client = urqlClient(server.url, tokens);
  const email = `urql-mfa-${Date.now()}@example.com`;
  const password = 'urql-mfa-passphrase';

  const registered = await client.mutation(RegisterDocument, { input: { email, password } }).toPromise();
  assert.equal(registered.error, undefined);
  assert.deepEqual(registered.data!.register.errors, []);
  tokens.set(registered.data!.register.accessToken!, registered.data!.register.refreshToken!);
  assert.equal(claims(tokens.accessToken!).aal, 'aal1');

  const enrolled = await client.mutation(EnrollTotpDocument, {}).toPromise();
  assert.equal(enrolled.error, undefined);
  const { secret, otpauthUri } = enrolled.data!.enrollTotp;
  assert.match(otpauthUri, /^otpauth:\/\/totp\//);
  assert.ok(otpauthUri.includes(`secret=${secret}`), 'the URI carries the secret for a QR code');
  const app = new Authenticator(secret);

  const confirmed = await client.mutation(ConfirmTotpDocument, { code: await app.code() }).toPromise();
  assert.equal(confirmed.error, undefined);
  assert.deepEqual(confirmed.data!.confirmTotp.errors, []);
  const recoveryCodes = confirmed.data!.confirmTotp.recoveryCodes ?? [];
  assert.equal(recoveryCodes.length, 10);
  assert.equal(new Set(recoveryCodes).size, 10, 'ten different codes');

  const security = await client.query(MySecurityDocument, {}, { requestPolicy: 'network-only' }).toPromise();
  assert.equal(security.error, undefined);
  assert.equal(security.data?.me?.mfaEnabled, true);
  assert.deepEqual(security.data?.me?.passkeys, []);

  // The session from before enrolment is still aal1: a sensitive mutation
  // asks for the second factor, which `verifyMfa` with the token gives.
  const refused = await client.mutation(RegenerateRecoveryCodesDocument, {}).toPromise();
  assert.equal(refused.error, undefined);
  assert.deepEqual(codes(refused.data!.regenerateRecoveryCodes.errors), ['MFA_REQUIRED']);
  assert.equal(refused.data!.regenerateRecoveryCodes.recoveryCodes, null);

  const steppedUp = await client
    .mutation(VerifyMfaDocument, { input: { code: await app.code() } })
    .toPromise();
  assert.equal(steppedUp.error, undefined);
  const raised = steppedUp.data!.verifyMfa;
  assert.deepEqual(raised.errors, []);
  assert.equal(raised.mfaTicket, null);
  assert.ok(raised.accessToken && raised.refreshToken, 'fresh tokens for the session');
  assert.deepEqual(claims(raised.accessToken).amr, ['pwd', 'otp']);
  assert.equal(claims(raised.accessToken).aal, 'aal2');
  tokens.set(raised.accessToken, raised.refreshToken);

  const regenerated = await client.mutation(RegenerateRecoveryCodesDocument, {}).toPromise();
  assert.equal(regenerated.error, undefined);
  assert.deepEqual(regenerated.data!.regenerateRecoveryCodes.errors, []);
  const fresh = regenerated.data!.regenerateRecoveryCodes.recoveryCodes ?? [];
  assert.equal(fresh.length, 10);
  assert.ok(!fresh.some((c) => recoveryCodes.includes(c)), 'the new codes replace the old ones');

  const out = await client.mutation(LogoutDocument, { scope: 'CURRENT' }).toPromise();
  assert.equal(out.data?.logout.revokedSessions, 1);
  tokens.clear();

  // The password alone no longer opens a session: a ticket waits for the code.
  const login = await client.mutation(LoginDocument, { input: { email, password } }).toPromise();
  assert.equal(login.error, undefined);
  const pending = login.data!.login;
  assert.deepEqual(codes(pending.errors), ['MFA_REQUIRED']);
  assert.equal(pending.accessToken, null);
  assert.equal(pending.refreshToken, null);
  const ticket = pending.mfaTicket;
  assert.ok(ticket, 'a ticket for the second step');

  // A mistyped code is refused in the payload and keeps the ticket.
  const typo = await client
    .mutation(VerifyMfaDocument, { input: { ticket, code: app.wrongCode() } })
    .toPromise();
  assert.equal(typo.error, undefined);
  assert.deepEqual(codes(typo.data!.verifyMfa.errors), ['INVALID_CODE']);
  assert.equal(typo.data!.verifyMfa.accessToken, null);

  const verified = await client
    .mutation(VerifyMfaDocument, { input: { ticket, code: await app.code() } })
    .toPromise();
  assert.equal(verified.error, undefined);
  const session = verified.data!.verifyMfa;
  assert.deepEqual(session.errors, []);
  assert.ok(session.accessToken && session.refreshToken, 'tokens at last');
  assert.equal(claims(session.accessToken).aal, 'aal2');
  tokens.set(session.accessToken, session.refreshToken);

  const me = await client.query(MySecurityDocument, {}, { requestPolicy: 'network-only' }).toPromise();
  assert.equal(me.error, undefined);
  assert.equal(me.data?.me?.email, email);
  assert.equal(me.data?.me?.mfaEnabled, true);

  // The ticket was single use.
  const replayed = await client
    .mutation(VerifyMfaDocument, { input: { ticket, code: app.wrongCode() } })
    .toPromise();
  assert.deepEqual(codes(replayed.data!.verifyMfa.errors), ['INVALID_TOKEN']);
});
