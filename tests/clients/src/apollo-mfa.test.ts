// Apollo Client 4 against the real server, signing in with a second factor:
// TOTP turned on with a code from otpauth, a sign-in that stops at
// MFA_REQUIRED with a ticket and finishes with `verifyMfa` after a mistyped
// code, and one finished with a recovery code instead (the phone lost),
// which then cannot be used again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { apolloClient } from './apollo.js';
import { Authenticator, claims } from './authenticator.js';
import {
  ConfirmTotpDocument,
  EnrollTotpDocument,
  LoginDocument,
  LogoutDocument,
  MySecurityDocument,
  RegisterDocument,
  VerifyMfaDocument,
} from './gql/graphql.js';
import { type Server, startServer } from './server.js';
import { TokenStore } from './tokens.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

const codes = (errors: ReadonlyArray<{ code: string }> | undefined) => (errors ?? []).map((e) => e.code);

test('Apollo turns TOTP on and signs in with a ticket, then a code or a recovery code', async () => {
  const tokens = new TokenStore();
  const client = apolloClient(server.url, tokens);
  const email = `apollo-mfa-${Date.now()}@example.com`;
  const password = 'apollo-mfa-passphrase';

  const registered = await client.mutate({
    mutation: RegisterDocument,
    variables: { input: { email, password } },
  });
  assert.deepEqual(registered.data!.register.errors, []);
  tokens.set(registered.data!.register.accessToken!, registered.data!.register.refreshToken!);

  const enrolled = await client.mutate({ mutation: EnrollTotpDocument });
  const app = new Authenticator(enrolled.data!.enrollTotp.secret);
  assert.match(enrolled.data!.enrollTotp.otpauthUri, /^otpauth:\/\/totp\//);

  const confirmed = await client.mutate({
    mutation: ConfirmTotpDocument,
    variables: { code: await app.code() },
  });
  assert.deepEqual(confirmed.data!.confirmTotp.errors, []);
  const recoveryCodes = confirmed.data!.confirmTotp.recoveryCodes ?? [];
  assert.equal(recoveryCodes.length, 10);
  assert.equal(new Set(recoveryCodes).size, 10, 'ten different codes');

  const security = await client.query({ query: MySecurityDocument });
  assert.equal(security.data?.me?.mfaEnabled, true);
  assert.deepEqual(security.data?.me?.passkeys, []);

  const out = await client.mutate({ mutation: LogoutDocument, variables: { scope: 'CURRENT' } });
  assert.equal(out.data?.logout.revokedSessions, 1);
  tokens.clear();
  await client.clearStore(); // what a frontend does on signing out

  /** A password sign-in, which stops at the second factor: its ticket. */
  const signIn = async (): Promise<string> => {
    const login = await client.mutate({ mutation: LoginDocument, variables: { input: { email, password } } });
    const pending = login.data!.login;
    assert.deepEqual(codes(pending.errors), ['MFA_REQUIRED']);
    assert.equal(pending.accessToken, null);
    assert.equal(pending.refreshToken, null);
    assert.ok(pending.mfaTicket, 'a ticket for the second step');
    return pending.mfaTicket;
  };

  const ticket = await signIn();
  const typo = await client.mutate({
    mutation: VerifyMfaDocument,
    variables: { input: { ticket, code: app.wrongCode() } },
  });
  assert.deepEqual(codes(typo.data!.verifyMfa.errors), ['INVALID_CODE']);
  assert.deepEqual(typo.data!.verifyMfa.errors[0]?.field, ['input', 'code']);
  assert.equal(typo.data!.verifyMfa.accessToken, null);

  const verified = await client.mutate({
    mutation: VerifyMfaDocument,
    variables: { input: { ticket, code: await app.code() } },
  });
  const session = verified.data!.verifyMfa;
  assert.deepEqual(session.errors, []);
  assert.ok(session.accessToken && session.refreshToken, 'tokens at last');
  assert.deepEqual(claims(session.accessToken).amr, ['pwd', 'otp']);
  tokens.set(session.accessToken, session.refreshToken);

  const me = await client.query({ query: MySecurityDocument });
  assert.equal(me.data?.me?.email, email);
  assert.equal(me.data?.me?.mfaEnabled, true);

  await client.mutate({ mutation: LogoutDocument, variables: { scope: 'CURRENT' } });
  tokens.clear();
  await client.clearStore();

  // The phone is lost: a recovery code stands in for the TOTP code, once.
  const recovered = await client.mutate({
    mutation: VerifyMfaDocument,
    variables: { input: { ticket: await signIn(), recoveryCode: recoveryCodes[0] } },
  });
  assert.deepEqual(recovered.data!.verifyMfa.errors, []);
  assert.ok(recovered.data!.verifyMfa.accessToken, 'a recovery code signs in');
  assert.equal(claims(recovered.data!.verifyMfa.accessToken).aal, 'aal2');

  const reused = await client.mutate({
    mutation: VerifyMfaDocument,
    variables: { input: { ticket: await signIn(), recoveryCode: recoveryCodes[0] } },
  });
  assert.deepEqual(codes(reused.data!.verifyMfa.errors), ['INVALID_CODE']);
  assert.equal(reused.data!.verifyMfa.accessToken, null);
});
