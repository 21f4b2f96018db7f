// The subscription socket against `graphql-ws` (the library whose protocol
// it speaks) and raw `ws` frames: every close code of the contract, the
// refused upgrades, the `error` messages, and the closes from outside the
// socket (logout, token expiry).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { type Account, signUp } from './social.js';
import { type Server, post, startServer } from './server.js';
import { RawSocket, client, connected, subscribe } from './ws.js';

const FEED = 'subscription { feedAdded { cursor node { id body } } }';
const POST_CHANGED = 'subscription($id: ID!) { postChanged(id: $id) { id likeCount } }';

let server: Server;
let expiring: Server;
before(async () => {
  [server, expiring] = await Promise.all([
    startServer({ WS_INIT_TIMEOUT: '1s', WS_MAX_SUBSCRIPTIONS: '3', WS_MAX_SOCKETS: '2' }),
    // The shortest token the settings allow would expire while the socket opens.
    startServer({ ACCESS_TOKEN_TTL: '3s' }),
  ]);
});
after(() => Promise.all([server.stop(), expiring.stop()]));

let accounts = 0;
/** A new account with a handle of its own. */
function account(on: Server = server): Promise<Account> {
  accounts += 1;
  return signUp(on.url, `ws_${process.pid}_${Date.now() % 100000}_${accounts}`);
}

/** A raw socket, signed in with `account`'s token or anonymous. */
async function initialised(who?: Account): Promise<RawSocket> {
  const socket = await RawSocket.open(server.url);
  await socket.init(who ? { Authorization: `Bearer ${who.tokens.accessToken}` } : undefined);
  return socket;
}

test('a malformed message closes with 4400', async () => {
  for (const frame of ['not json', '{"type":"subscribe","id":"","payload":{"query":"{}"}}', '{"type":"next","id":"1"}']) {
    const socket = await RawSocket.open(server.url);
    socket.send(frame);
    const closed = await socket.closed;
    assert.equal(closed.code, 4400, frame);
    assert.ok(closed.reason.length > 0, 'with a reason');
  }
  const binary = await RawSocket.open(server.url);
  binary.send(Buffer.from('{"type":"connection_init"}'));
  assert.equal((await binary.closed).code, 4400, 'binary frames');
});

test('a message over the body limit closes with 1009', async () => {
  const socket = await RawSocket.open(server.url);
  await socket.init();
  socket.subscribe('big', `subscription { feedAdded { cursor } } # ${'x'.repeat(70 * 1024)}`);
  assert.equal((await socket.closed).code, 1009);
});

test('a connection_init payload that is not an object closes with 4400', async () => {
  const socket = await RawSocket.open(server.url);
  socket.send({ type: 'connection_init', payload: 'Bearer nope' });
  assert.equal((await socket.closed).code, 4400);
});

test('subscribe before connection_ack closes with 4401 Unauthorized', async () => {
  const socket = await RawSocket.open(server.url);
  socket.subscribe('1', POST_CHANGED, { id: 'x' });
  assert.deepEqual(await socket.closed, { code: 4401, reason: 'Unauthorized' });
});

test('a bad token closes with 4403 Forbidden, through graphql-ws too', async () => {
  for (const payload of [{ Authorization: 'Bearer not-a-token' }, { authorization: 'Basic abc' }]) {
    const socket = await RawSocket.open(server.url);
    socket.send({ type: 'connection_init', payload });
    assert.deepEqual(await socket.closed, { code: 4403, reason: 'Forbidden' });
  }
  const graphqlWs = client(server.url, 'not-a-token');
  const { end } = subscribe(graphqlWs, FEED);
  assert.deepEqual(await end, { kind: 'closed', code: 4403, reason: 'Forbidden' });
  await graphqlWs.dispose();
});

test('no connection_init within WS_INIT_TIMEOUT closes with 4408', async () => {
  const socket = await RawSocket.open(server.url);
  assert.deepEqual(await socket.closed, { code: 4408, reason: 'Connection initialisation timeout' });
});

test('a subscription id in use closes with 4409', async () => {
  const socket = await initialised(await account());
  socket.subscribe('one', FEED);
  socket.subscribe('one', FEED);
  assert.deepEqual(await socket.closed, { code: 4409, reason: 'Subscriber for one already exists' });
});

test('a second connection_init closes with 4429', async () => {
  const socket = await initialised();
  socket.send({ type: 'connection_init' });
  assert.deepEqual(await socket.closed, { code: 4429, reason: 'Too many initialisation requests' });
});

test('ping is answered with pong before connection_init and after, its payload echoed', async () => {
  const socket = await RawSocket.open(server.url);
  socket.send({ type: 'ping' });
  assert.deepEqual(await socket.next(), { type: 'pong' });
  await socket.init();
  socket.send({ type: 'ping', payload: { at: 1 } });
  assert.deepEqual(await socket.next(), { type: 'pong', payload: { at: 1 } });
  socket.close();
});

test('a query or a mutation over the socket gets an error message and nothing runs', async () => {
  const who = await account();
  const graphqlWs = client(server.url, who.tokens.accessToken!);
  for (const query of ['{ me { id } }', 'mutation { logout(scope: ALL) { revokedSessions } }']) {
    const { end } = subscribe(graphqlWs, query);
    const outcome = await end;
    assert.equal(outcome.kind, 'error', query);
    assert.equal(outcome.kind === 'error' && outcome.errors[0]?.extensions?.['code'], 'BAD_REQUEST');
  }
  const me = await post(server.url, '{ me { id } }', {}, who.tokens.accessToken!);
  assert.ok(me.data?.['me'], 'the logout did not run: the session lives');
  await graphqlWs.dispose();
});

test('an anonymous feedAdded gets an error message with UNAUTHENTICATED', async () => {
  const graphqlWs = client(server.url);
  const { end } = subscribe(graphqlWs, FEED);
  const outcome = await end;
  assert.equal(outcome.kind, 'error');
  assert.equal(outcome.kind === 'error' && outcome.errors[0]?.extensions?.['code'], 'UNAUTHENTICATED');
  await graphqlWs.dispose();
});

test('postChanged of an unknown post gets an error message with NOT_FOUND', async () => {
  const graphqlWs = client(server.url);
  const { end } = subscribe(graphqlWs, POST_CHANGED, { id: '01900000-0000-7000-8000-000000000000' });
  const outcome = await end;
  assert.equal(outcome.kind, 'error', JSON.stringify(outcome));
  assert.equal(outcome.kind === 'error' && outcome.errors[0]?.extensions?.['code'], 'NOT_FOUND');
  await graphqlWs.dispose();
});

test('a document over the limits gets an error message with the code POST gives', async () => {
  const deep = `subscription($id: ID!) { postChanged(id: $id) { ${'replyTo { '.repeat(20)}id${' }'.repeat(20)} } }`;
  const graphqlWs = client(server.url);
  const { end } = subscribe(graphqlWs, deep, { id: 'x' });
  const outcome = await end;
  assert.equal(outcome.kind, 'error', JSON.stringify(outcome));
  const overPost = await post(server.url, deep, { id: 'x' });
  const code = overPost.errors?.[0]?.extensions?.['code'];
  assert.equal(code, 'GRAPHQL_VALIDATION_FAILED');
  assert.equal(outcome.kind === 'error' && outcome.errors[0]?.extensions?.['code'], code);
  await graphqlWs.dispose();
});

test('the subscription after WS_MAX_SUBSCRIPTIONS gets an error message; the socket stays', async () => {
  const who = await account();
  const graphqlWs = client(server.url, who.tokens.accessToken!);
  const running = [1, 2, 3].map(() => subscribe(graphqlWs, FEED));
  await connected(graphqlWs);
  const fourth = subscribe(graphqlWs, FEED);
  const outcome = await fourth.end;
  assert.equal(outcome.kind, 'error');
  assert.equal(outcome.kind === 'error' && outcome.errors[0]?.extensions?.['code'], 'BAD_REQUEST');
  // One ends; the next fits.
  running[0]!.stop();
  const raw = await initialised(who);
  raw.subscribe('a', FEED);
  raw.subscribe('b', FEED);
  raw.subscribe('c', FEED);
  raw.subscribe('d', FEED);
  const refused = await raw.next();
  assert.equal(refused['type'], 'error');
  assert.equal(refused['id'], 'd');
  raw.send({ type: 'complete', id: 'a' });
  raw.subscribe('d', FEED);
  raw.send({ type: 'ping' });
  assert.deepEqual(await raw.next(), { type: 'pong' }, 'no error this time: d runs');
  raw.close();
  await graphqlWs.dispose();
});

test('the socket after WS_MAX_SOCKETS of one account closes with 4403 too many sockets', async () => {
  const who = await account();
  const token = who.tokens.accessToken!;
  const open = [client(server.url, token), client(server.url, token)];
  for (const c of open) {
    subscribe(c, FEED);
    await connected(c);
  }
  const third = client(server.url, token);
  const { end } = subscribe(third, FEED);
  assert.deepEqual(await end, { kind: 'closed', code: 4403, reason: 'too many sockets' });
  // Another account is not counted with it.
  const other = client(server.url, (await account()).tokens.accessToken!);
  subscribe(other, FEED);
  await connected(other);
  await Promise.all([...open, third, other].map((c) => c.dispose()));
});

test('an upgrade from an origin not in CORS_ORIGINS is refused with 403', async () => {
  const refused = await RawSocket.refusal(server.url, { origin: 'https://elsewhere.example' });
  assert.equal(refused.status, 403);
  assert.ok(Array.isArray(refused.body['errors']));
  const allowed = await RawSocket.open(server.url, { origin: 'http://localhost:5173' });
  await allowed.init();
  allowed.close();
});

test('an upgrade offering another subprotocol alone, or none, is refused with 400', async () => {
  for (const protocols of [['graphql-ws'], []]) {
    const refused = await RawSocket.refusal(server.url, { protocols });
    assert.equal(refused.status, 400, JSON.stringify(protocols));
    const errors = refused.body['errors'] as Array<{ extensions: { code: string } }>;
    assert.equal(errors[0]?.extensions.code, 'BAD_REQUEST');
  }
});

test('a logout closes the session’s socket with 4403 session ended', async () => {
  const who = await account();
  const graphqlWs = client(server.url, who.tokens.accessToken!);
  const { end } = subscribe(graphqlWs, FEED);
  await connected(graphqlWs);
  const out = await post(server.url, 'mutation { logout { revokedSessions } }', {}, who.tokens.accessToken!);
  assert.deepEqual(out.data, { logout: { revokedSessions: 1 } });
  assert.deepEqual(await end, { kind: 'closed', code: 4403, reason: 'session ended' });
  await graphqlWs.dispose();
});

test('a socket closes with 4401 token expired when its access token expires', async () => {
  const who = await account(expiring);
  const graphqlWs = client(expiring.url, who.tokens.accessToken!);
  const { end } = subscribe(graphqlWs, FEED);
  await connected(graphqlWs);
  assert.deepEqual(await end, { kind: 'closed', code: 4401, reason: 'token expired' });
  await graphqlWs.dispose();
});
