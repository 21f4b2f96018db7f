// The socket outlives its access token (ACCESS_TOKEN_TTL=5s: a socket
// lives until the token's `exp`, long enough for a test's round of events):
// the server closes it with 4401 `token expired`, live.ts refreshes the token and
// subscribes again on a new socket, and the feed keeps arriving, in urql and
// in Apollo. A post written while no socket was open is not replayed: the
// app reads it from the feed on reconnecting, down to the newest post it
// held. The refresh is held at a gate until that post is written, so the
// gap is certain.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { Client, OperationResult } from '@urql/core';

import { apolloClient } from './apollo.js';
import { loaded, next, shown } from './apollo-watch.js';
import { FeedAddedDocument, FeedDocument, type FeedQuery } from './gql/graphql.js';
import { liveClient } from './live.js';
import { Received, listening } from './received.js';
import { type Server, startServer } from './server.js';
import { type Account, follow, signUp, write } from './social.js';
import { TokenStore } from './tokens.js';
import { urqlClient } from './urql.js';

let server: Server;
before(async () => {
  server = await startServer({ ACCESS_TOKEN_TTL: '5s' });
});
after(() => server.stop());

type Edge = FeedQuery['feed']['edges'][number];

/** A TokenStore whose refresh waits while held. */
class HeldTokens extends TokenStore {
  #held: Promise<void> = Promise.resolve();
  #release: () => void = () => {};

  hold(): void {
    this.#held = new Promise((release) => {
      this.#release = release;
    });
  }

  release(): void {
    this.#release();
  }

  override async refresh(url: string): Promise<boolean> {
    await this.#held;
    return super.refresh(url);
  }
}

/**
 * The feed entries written since the screen's newest post (`newest`, its
 * id), newest first: the feed's pages from the top, down to that post.
 * (A cursor pages on from its entry; it is no entry's name.)
 */
async function since(client: Client, newest: string): Promise<Edge[]> {
  const missed: Edge[] = [];
  let after: string | null = null;
  for (;;) {
    const page: OperationResult<FeedQuery> = await client
      .query(FeedDocument, { first: 20, after }, { requestPolicy: 'network-only' })
      .toPromise();
    if (page.error) throw page.error;
    const { edges, pageInfo } = page.data!.feed;
    for (const edge of edges) {
      if (edge.node.id === newest) return missed;
      missed.push(edge);
    }
    if (!pageInfo.hasNextPage) return missed;
    after = pageInfo.endCursor ?? null;
  }
}

/** Polls `done` until it holds; fails after `ms`. */
async function until(what: string, done: () => boolean, ms = 40_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A viewer (with held refreshes) following an author whose posts refresh the author's token first. */
async function seed(prefix: string) {
  const signedUp = await signUp(server.url, `${prefix}_viewer`);
  const author = await signUp(server.url, `${prefix}_author`);
  await follow(server.url, signedUp, author.handle);
  const tokens = new HeldTokens();
  tokens.set(signedUp.tokens.accessToken!, signedUp.tokens.refreshToken!);
  const viewer: Account = { handle: signedUp.handle, tokens };
  let n = 0;
  const post = async (body = `post ${n++}`) => {
    await author.tokens.refresh(server.url); // its token expires as fast
    return write(server.url, author, body);
  };
  return { viewer, tokens, post };
}

/** The socket's closes and connections, as the app's listeners see them. */
function watchSocket(live: ReturnType<typeof liveClient>) {
  const closes: Array<{ code: number; reason: string }> = [];
  let connections = 0;
  live.on('closed', (event) => {
    const { code, reason } = event as { code: number; reason: string };
    closes.push({ code, reason });
  });
  live.on('connected', () => {
    connections += 1;
  });
  return { closes, connections: () => connections };
}

test('urql: after 4401 the subscription goes on with a refreshed token; the gap is read from the feed', async () => {
  const { viewer, tokens, post } = await seed('urql_again');
  const live = liveClient(server.url, tokens);
  const socket = watchSocket(live);
  const client = urqlClient(server.url, tokens, { live });

  // The app: on every connection after the first, it reads what it missed.
  let newest = null as string | null;
  let caughtUp = null as Promise<Edge[]> | null; // set by the listener
  live.on('connected', () => {
    if (socket.connections() > 1 && newest) caughtUp = since(client, newest);
  });

  const edges = new Received<Edge>();
  const subscription = client.subscription(FeedAddedDocument, {}).subscribe((result) => {
    assert.equal(result.error, undefined);
    edges.push(result.data!.feedAdded);
  });
  try {
    await listening(edges, () => post(), (e) => e.node.id);
    const before = await post('before the token expires');
    const held = await edges.next();
    assert.equal(held.node.id, before);
    newest = held.node.id;
    const firstToken = tokens.accessToken;

    tokens.hold();
    const closed = socket.closes.length;
    await until('a 4401 close', () => socket.closes.slice(closed).some((c) => c.code === 4401));
    assert.deepEqual(
      socket.closes.slice(closed).find((c) => c.code === 4401),
      { code: 4401, reason: 'token expired' },
    );
    const connected = socket.connections();
    const missed = await post('while no socket was open');
    tokens.release();

    await until('a new connection', () => socket.connections() > connected);
    assert.notEqual(tokens.accessToken, firstToken, 'the socket was opened with a refreshed token');
    assert.ok(caughtUp, 'the app read the feed on reconnecting');
    assert.deepEqual(
      (await caughtUp).map((e) => e.node.id),
      [missed],
      'the feed gives what the socket missed, down to the newest post held',
    );

    // The subscription goes on over the new socket.
    await listening(edges, () => post(), (e) => e.node.id);
    const later = await post('after the refresh');
    assert.equal((await edges.next()).node.id, later);
  } finally {
    subscription.unsubscribe();
    await live.dispose();
  }
});

test('Apollo: after 4401 subscribeToMore goes on putting edges on top of the cached feed', async () => {
  const { tokens, post } = await seed('apollo_again');
  const live = liveClient(server.url, tokens);
  const socket = watchSocket(live);
  const client = apolloClient(server.url, tokens, { live });
  const feed = client.watchQuery({ query: FeedDocument, variables: { first: 20 } });
  const screen = feed.subscribe(() => {});
  // The app: on every connection after the first, the first page again.
  live.on('connected', () => {
    if (socket.connections() > 1) void feed.refetch();
  });
  const arrived = new Received<Edge>();
  const stop = feed.subscribeToMore({
    document: FeedAddedDocument,
    updateQuery(_, { complete, previousData, subscriptionData }) {
      const edge = subscriptionData.data.feedAdded;
      arrived.push(edge);
      if (!complete) return;
      const older = previousData.feed.edges.filter((e) => e.node.id !== edge.node.id);
      return { ...previousData, feed: { ...previousData.feed, edges: [edge, ...older] } };
    },
  });
  try {
    await loaded(feed);
    await listening(arrived, () => post(), (e) => e.node.id);

    tokens.hold();
    const closed = socket.closes.length;
    await until('a 4401 close', () => socket.closes.slice(closed).some((c) => c.code === 4401));
    const connected = socket.connections();
    const missed = await post('while no socket was open');
    const refetched = next(feed);
    tokens.release();
    await until('a new connection', () => socket.connections() > connected);
    assert.equal((await refetched).feed.edges[0]?.node.id, missed, 'the refetch shows the missed post');

    await listening(arrived, () => post(), (e) => e.node.id);
    const onScreen = next(feed);
    const later = await post('after the refresh');
    assert.equal((await arrived.next()).node.id, later);
    assert.equal((await onScreen).feed.edges[0]?.node.id, later, "the cache's feed starts with it");
    assert.equal(shown(feed).feed.edges.filter((e) => e.node.id === missed).length, 1);
  } finally {
    stop();
    screen.unsubscribe();
    await live.dispose();
  }
});
