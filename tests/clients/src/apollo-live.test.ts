// Apollo Client 4 receives live updates over the socket (apollo.ts's
// GraphQLWsLink with live.ts's graphql-ws client): the watched feed takes
// each feedAdded edge on top through `subscribeToMore`, the rest as it was,
// and the edge's cursor pages on below it; a notificationChanged group
// replaces the cached group of the same id, so the watched notifications
// show its new actor without a refetch.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { apolloClient } from './apollo.js';
import { loaded, next, shown } from './apollo-watch.js';
import {
  FeedAddedDocument,
  FeedDocument,
  type FeedQuery,
  NotificationChangedDocument,
  type NotificationChangedSubscription,
  NotificationsDocument,
} from './gql/graphql.js';
import { liveClient } from './live.js';
import { Received, listening } from './received.js';
import { type Server, startServer } from './server.js';
import { follow, like, request, signUp, write } from './social.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

type Edge = FeedQuery['feed']['edges'][number];

test('Apollo puts each feedAdded edge on top of the cached feed', async () => {
  const viewer = await signUp(server.url, 'apollo_live_viewer');
  const author = await signUp(server.url, 'apollo_live_author');
  await follow(server.url, viewer, author.handle);
  for (const n of [1, 2, 3]) await write(server.url, author, `earlier ${n}`);

  const live = liveClient(server.url, viewer.tokens);
  const client = apolloClient(server.url, viewer.tokens, { live });
  const feed = client.watchQuery({ query: FeedDocument, variables: { first: 10 } });
  const screen = feed.subscribe(() => {});
  const arrived = new Received<Edge>();
  const stop = feed.subscribeToMore({
    document: FeedAddedDocument,
    updateQuery(_, { complete, previousData, subscriptionData }) {
      const edge = subscriptionData.data.feedAdded;
      arrived.push(edge);
      if (!complete) return; // no whole feed to put it on: the next read fetches it
      // A post shows once, at its newest entry (a repost moves it up).
      const older = previousData.feed.edges.filter((e) => e.node.id !== edge.node.id);
      return { ...previousData, feed: { ...previousData.feed, edges: [edge, ...older] } };
    },
  });
  try {
    assert.equal((await loaded(feed)).feed.edges.length, 3);
    let n = 0;
    await listening(arrived, () => write(server.url, author, `warming up ${n++}`), (e) => e.node.id);

    const before = shown(feed).feed.edges.map((e) => e.node.id);
    const onScreen = next(feed);
    const id = await write(server.url, author, 'live on top');
    const edge = await arrived.next();
    assert.equal(edge.node.id, id);
    const top = (await onScreen).feed.edges[0]!;
    assert.equal(top.node.id, id, "the cache's feed starts with the new edge");
    assert.equal(top.node.body, 'live on top');
    assert.equal(top.cursor, edge.cursor);

    assert.deepEqual(
      shown(feed).feed.edges.map((e) => e.node.id),
      [id, ...before],
      'the rest of the list as it was',
    );

    // The edge's cursor pages on below it, as `fetchMore` would.
    const below = await request(
      server.url,
      FeedDocument,
      { first: 1, after: edge.cursor },
      viewer.tokens.accessToken!,
    );
    assert.equal(below.feed.edges[0]?.node.id, before[0]);
  } finally {
    stop();
    screen.unsubscribe();
    await live.dispose();
  }
});

test('Apollo updates a cached notification group from notificationChanged', async () => {
  const viewer = await signUp(server.url, 'apollo_notes_viewer');
  const [fan1, fan2, prober] = [
    await signUp(server.url, 'apollo_notes_fan1'),
    await signUp(server.url, 'apollo_notes_fan2'),
    await signUp(server.url, 'apollo_notes_prober'),
  ];
  const postId = await write(server.url, viewer, 'like me');
  await like(server.url, fan1, postId);

  const live = liveClient(server.url, viewer.tokens);
  const client = apolloClient(server.url, viewer.tokens, { live });
  const inbox = client.watchQuery({ query: NotificationsDocument, variables: { first: 10 } });
  const screen = inbox.subscribe(() => {});
  const groups = new Received<NotificationChangedSubscription['notificationChanged']>();
  const subscription = client
    .subscribe({ query: NotificationChangedDocument })
    .subscribe(({ data }) => groups.push(data!.notificationChanged));
  try {
    const before = (await loaded(inbox)).notifications.edges.map((e) => e.node);
    assert.deepEqual(
      before.map((g) => [g.post?.id, g.actorCount]),
      [[postId, 1]],
    );
    await listening(
      groups,
      async () => {
        const probe = await write(server.url, viewer, 'probe');
        await like(server.url, prober, probe);
        return probe;
      },
      (g) => g.post?.id ?? '',
    );

    // The group gains an actor: the socket's copy lands on the cached group
    // (same id), and the watched list shows it without asking the server.
    const onScreen = next(inbox);
    await like(server.url, fan2, postId);
    const group = await groups.next();
    assert.equal(group.id, before[0]!.id);
    assert.equal(group.actorCount, 2);
    const cached = (await onScreen).notifications.edges.find((e) => e.node.id === group.id)!.node;
    assert.deepEqual(
      cached.actors.map((a) => a.handle),
      [fan2.handle, fan1.handle],
    );
    assert.equal(cached.actorCount, 2);
  } finally {
    subscription.unsubscribe();
    screen.unsubscribe();
    await live.dispose();
  }
});
