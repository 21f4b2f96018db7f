// urql + @urql/exchange-auth against the real server: register, me, an
// expired access token refreshed on UNAUTHENTICATED with the retried query
// succeeding, logout, and a dead session ending in a signed-out client.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { LogoutDocument, MeDocument, RegisterDocument } from './gql/graphql.js';
import { type Server, startServer, waitForExpiry } from './server.js';
import { TokenStore } from './tokens.js';
import { urqlClient } from './urql.js';

let server: Server;
before(async () => {
  server = await startServer({ ACCESS_TOKEN_TTL: '1s' });
});
after(() => server.stop());

test('urql signs up, refreshes an expired token on UNAUTHENTICATED, and signs out', async () => {
  const tokens = new TokenStore();
  const client = urqlClient(server.url, tokens);
  const email = `urql-${Date.now()}@example.com`;

  const registered = await client
    .mutation(RegisterDocument, { input: { email, password: 'urql-client-passphrase' } })
    .toPromise();
  assert.equal(registered.error, undefined);
  const payload = registered.data!.register;
  assert.deepEqual(payload.errors, []);
  assert.equal(payload.user?.email, email);
  tokens.set(payload.accessToken!, payload.refreshToken!);

  const me = await client.query(MeDocument, {}, { requestPolicy: 'network-only' }).toPromise();
  assert.equal(me.error, undefined);
  assert.equal(me.data?.me?.email, email);

  // The server now refuses the first access token (checked over plain fetch).
  const [firstAccess, firstRefresh] = [tokens.accessToken!, tokens.refreshToken!];
  await waitForExpiry(server.url, firstAccess);

  const again = await client.query(MeDocument, {}, { requestPolicy: 'network-only' }).toPromise();
  assert.equal(again.error, undefined, 'the retried query succeeds');
  assert.equal(again.data?.me?.email, email);
  assert.ok(tokens.accessToken && tokens.accessToken !== firstAccess, 'a new access token');
  assert.ok(tokens.refreshToken && tokens.refreshToken !== firstRefresh, 'the refresh token rotated');

  const out = await client.mutation(LogoutDocument, { scope: 'CURRENT' }).toPromise();
  assert.equal(out.error, undefined);
  assert.equal(out.data?.logout.revokedSessions, 1);

  // The session is over: the refresh fails, the client forgets its tokens and
  // the retried query runs signed out.
  const gone = await client.query(MeDocument, {}, { requestPolicy: 'network-only' }).toPromise();
  assert.equal(gone.error, undefined);
  assert.equal(gone.data?.me, null);
  assert.equal(tokens.accessToken, null);
  assert.equal(tokens.refreshToken, null);
});
