// Apollo Client 4 with an ErrorLink against the real server: register, me,
// an expired access token refreshed on UNAUTHENTICATED (once, for several
// queries failing together) and the retried queries succeeding, logout, and a
// dead session surfacing as UNAUTHENTICATED.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { CombinedGraphQLErrors } from '@apollo/client';

import { apolloClient } from './apollo.js';
import { LogoutDocument, MeDocument, RegisterDocument } from './gql/graphql.js';
import { type Server, metric, startServer, waitForExpiry } from './server.js';
import { TokenStore } from './tokens.js';

let server: Server;
before(async () => {
  server = await startServer({ ACCESS_TOKEN_TTL: '1s' });
});
after(() => server.stop());

test('Apollo signs up, refreshes an expired token on UNAUTHENTICATED, and signs out', async () => {
  const tokens = new TokenStore();
  const client = apolloClient(server.url, tokens);
  const email = `apollo-${Date.now()}@example.com`;

  const registered = await client.mutate({
    mutation: RegisterDocument,
    variables: { input: { email, password: 'apollo-client-passphrase' } },
  });
  const payload = registered.data!.register;
  assert.deepEqual(payload.errors, []);
  assert.equal(payload.user?.email, email);
  tokens.set(payload.accessToken!, payload.refreshToken!);

  const me = await client.query({ query: MeDocument });
  assert.equal(me.data?.me?.email, email);

  const [firstAccess, firstRefresh] = [tokens.accessToken!, tokens.refreshToken!];
  await waitForExpiry(server.url, firstAccess);

  // Three queries fail together; one refresh serves them all (a second
  // refresh of the same token would only be tolerated within the grace).
  const refreshesBefore = await metric(server.origin, 'refreshes_total{outcome="ok"}');
  const results = await Promise.all([1, 2, 3].map(() => client.query({ query: MeDocument })));
  for (const r of results) assert.equal(r.data?.me?.email, email, 'the retried query succeeds');
  assert.ok(tokens.accessToken && tokens.accessToken !== firstAccess, 'a new access token');
  assert.ok(tokens.refreshToken && tokens.refreshToken !== firstRefresh, 'the refresh token rotated');
  assert.equal(await metric(server.origin, 'refreshes_total{outcome="ok"}'), refreshesBefore + 1);

  const out = await client.mutate({ mutation: LogoutDocument, variables: { scope: 'CURRENT' } });
  assert.equal(out.data?.logout.revokedSessions, 1);

  // The session is over: the refresh fails and the query's UNAUTHENTICATED
  // reaches the app, which sends the user to the sign-in page.
  await assert.rejects(client.query({ query: MeDocument }), (e: unknown) => {
    assert.ok(CombinedGraphQLErrors.is(e));
    assert.equal(e.errors[0]?.extensions?.['code'], 'UNAUTHENTICATED');
    return true;
  });
  assert.equal(tokens.refreshToken, null);
});
