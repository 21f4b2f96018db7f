// urql receives live updates over the socket (urql.ts's subscriptionExchange
// with live.ts's graphql-ws client): a followed author's post arrives as a
// feed edge whose cursor pages on below it, and a stranger's never; a
// like of the viewer's post arrives as its notification group, and the next
// like as the same group with one more actor. A session ended closes the
// socket with 4403, which live.ts does not retry: the subscription ends.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  FeedAddedDocument,
  type FeedAddedSubscription,
  FeedDocument,
  LogoutDocument,
  NotificationChangedDocument,
  type NotificationChangedSubscription,
  NotificationsDocument,
} from './gql/graphql.js';
import { liveClient } from './live.js';
import { Received, listening } from './received.js';
import { type Server, startServer } from './server.js';
import { follow, like, request, signUp, write } from './social.js';
import { urqlClient } from './urql.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

const fresh = { requestPolicy: 'network-only' } as const;

test('urql receives feedAdded: a followed author posts, the edge arrives with a cursor to page on', async () => {
  const viewer = await signUp(server.url, 'urql_live_viewer');
  const author = await signUp(server.url, 'urql_live_author');
  const stranger = await signUp(server.url, 'urql_live_stranger');
  await follow(server.url, viewer, author.handle);

  const live = liveClient(server.url, viewer.tokens);
  const client = urqlClient(server.url, viewer.tokens, { live });
  const edges = new Received<FeedAddedSubscription['feedAdded']>();
  const subscription = client.subscription(FeedAddedDocument, {}).subscribe((result) => {
    assert.equal(result.error, undefined);
    edges.push(result.data!.feedAdded);
  });
  try {
    const probes: string[] = [];
    const probe = async () => {
      probes.push(await write(server.url, author, `warming up ${probes.length}`));
      return probes.at(-1)!;
    };
    await listening(edges, probe, (e) => e.node.id);

    const id = await write(server.url, author, 'live from the author');
    const edge = await edges.next();
    assert.equal(edge.node.id, id);
    assert.equal(edge.node.body, 'live from the author');
    assert.equal(edge.node.author.handle, author.handle);
    // On top of the feed; and its cursor pages on below it, to the post before.
    const top = await client.query(FeedDocument, { first: 1 }, fresh).toPromise();
    assert.equal(top.data?.feed.edges[0]?.node.id, id);
    const below = await client
      .query(FeedDocument, { first: 1, after: edge.cursor }, fresh)
      .toPromise();
    assert.equal(below.error, undefined);
    assert.equal(below.data?.feed.edges[0]?.node.id, probes.at(-1));

    // Not followed: the stranger's post never arrives; the author's next does.
    await write(server.url, stranger, 'nobody follows me');
    const next = await write(server.url, author, 'second from the author');
    assert.equal((await edges.next()).node.id, next);
  } finally {
    subscription.unsubscribe();
    await live.dispose();
  }
});

test('urql receives notificationChanged: a like of the viewer post, then another actor', async () => {
  const viewer = await signUp(server.url, 'urql_notes_viewer');
  const [fan1, fan2, prober] = [
    await signUp(server.url, 'urql_notes_fan1'),
    await signUp(server.url, 'urql_notes_fan2'),
    await signUp(server.url, 'urql_notes_prober'),
  ];
  const postId = await write(server.url, viewer, 'like me');

  const live = liveClient(server.url, viewer.tokens);
  const client = urqlClient(server.url, viewer.tokens, { live });
  const groups = new Received<NotificationChangedSubscription['notificationChanged']>();
  const subscription = client.subscription(NotificationChangedDocument, {}).subscribe((result) => {
    assert.equal(result.error, undefined);
    groups.push(result.data!.notificationChanged);
  });
  try {
    // Each probe: a like of a new post of the viewer's, a new group.
    await listening(
      groups,
      async () => {
        const probe = await write(server.url, viewer, 'probe');
        await like(server.url, prober, probe);
        return probe;
      },
      (g) => g.post?.id ?? '',
    );

    await like(server.url, fan1, postId);
    const group = await groups.next();
    assert.equal(group.kind, 'LIKE');
    assert.equal(group.post?.id, postId);
    assert.deepEqual(
      group.actors.map((a) => a.handle),
      [fan1.handle],
    );
    assert.equal(group.actorCount, 1);
    assert.equal(group.read, false);

    await like(server.url, fan2, postId);
    const grown = await groups.next();
    assert.equal(grown.id, group.id, 'the same group');
    assert.deepEqual(
      grown.actors.map((a) => a.handle),
      [fan2.handle, fan1.handle],
    );
    assert.equal(grown.actorCount, 2);
    // As the notifications list shows it, on top.
    const list = await client.query(NotificationsDocument, { first: 1 }, fresh).toPromise();
    const top = list.data?.notifications.edges[0]?.node;
    assert.equal(top?.id, grown.id);
    assert.equal(top?.actorCount, grown.actorCount);
    assert.equal(top?.createdAt, grown.createdAt);
  } finally {
    subscription.unsubscribe();
    await live.dispose();
  }
});

test('urql: a session ended closes the socket with 4403, and the subscription ends', async () => {
  const viewer = await signUp(server.url, 'urql_ended_viewer');
  const author = await signUp(server.url, 'urql_ended_author');
  await follow(server.url, viewer, author.handle);
  const live = liveClient(server.url, viewer.tokens);
  const closes: Array<{ code: number; reason: string }> = [];
  live.on('closed', (event) => {
    const { code, reason } = event as { code: number; reason: string };
    closes.push({ code, reason });
  });
  const client = urqlClient(server.url, viewer.tokens, { live });
  const results = new Received<{ id?: string; error?: unknown }>();
  const subscription = client.subscription(FeedAddedDocument, {}).subscribe((result) =>
    results.push(
      result.error ? { error: result.error.networkError } : { id: result.data!.feedAdded.node.id },
    ),
  );
  try {
    let n = 0;
    await listening(results, () => write(server.url, author, `warming up ${n++}`), (r) => r.id ?? '');

    const { logout } = await request(server.url, LogoutDocument, { scope: 'ALL' }, viewer.tokens.accessToken!);
    assert.equal(logout.revokedSessions, 1);
    const ended = await results.next();
    assert.equal((ended.error as { code?: number }).code, 4403, 'the close reaches the app');
    assert.deepEqual(closes, [{ code: 4403, reason: 'session ended' }], 'closed once, not retried');
  } finally {
    subscription.unsubscribe();
    await live.dispose();
  }
});
