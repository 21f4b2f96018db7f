// urql pages the notifications as a UI without a normalised cache does: the
// Notifications query again with `after` set to the previous page's
// `pageInfo.endCursor`, the pages concatenated; every group once, newest
// first, with and without a `kinds` filter. And the unread count before and
// after `markNotificationsSeen`, and a new event making its group unread
// again on top.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { Client } from '@urql/core';

import {
  MarkNotificationsSeenDocument,
  type NotificationKind,
  NotificationsDocument,
  type NotificationsQuery,
  UnreadNotificationsDocument,
} from './gql/graphql.js';
import { type Server, startServer } from './server.js';
import { type Group, like, seedInbox } from './social.js';
import { urqlClient } from './urql.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

type Page = NotificationsQuery['notifications'];
type Notification = Page['edges'][number]['node'];
const shape = (n: Notification): Group => ({
  kind: n.kind,
  post: n.post?.id ?? null,
  actors: n.actors.map((a) => a.handle),
});
const fresh = { requestPolicy: 'network-only' } as const;

/** Every page of the viewer's notifications, `first` at a time. */
async function allPages(client: Client, first: number, kinds?: NotificationKind[]): Promise<Page[]> {
  const pages: Page[] = [];
  let after: string | null = null;
  do {
    assert.ok(pages.length < 10, 'the notifications end');
    const result = await client
      .query(NotificationsDocument, { first, after, kinds }, fresh)
      .toPromise();
    assert.equal(result.error, undefined);
    const page: Page = result.data!.notifications;
    assert.equal(page.pageInfo.endCursor, page.edges.at(-1)?.cursor ?? null);
    pages.push(page);
    after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor! : null;
  } while (after !== null);
  return pages;
}

async function unread(client: Client): Promise<number | undefined> {
  const result = await client.query(UnreadNotificationsDocument, {}, fresh).toPromise();
  assert.equal(result.error, undefined);
  return result.data?.me?.unreadNotificationCount;
}

test(
  'urql pages notifications by cursor: every group once, newest first; unread before and after markNotificationsSeen',
  { timeout: 120_000 },
  async () => {
    const { viewer, actors, posts, expected } = await seedInbox(server.url, 'urql_n');
    const client = urqlClient(server.url, viewer.tokens);

    const pages = await allPages(client, 2);
    assert.deepEqual(
      pages.map((p) => p.edges.length),
      [2, 2, 1],
    );
    const shown = pages.flatMap((p) => p.edges.map((e) => e.node));
    assert.equal(new Set(shown.map((n) => n.id)).size, shown.length, 'no group twice');
    assert.deepEqual(shown.map(shape), expected, 'every group, newest first');
    const times = shown.map((n) => Date.parse(n.createdAt));
    assert.deepEqual([...times].sort((a, b) => b - a), times, 'createdAt newest first');
    // One page holding everything says the same.
    const whole = (await allPages(client, 20))[0]!;
    assert.deepEqual(whole.edges.map((e) => e.node.id), shown.map((n) => n.id));

    // Filtered by kinds, paged the same way.
    const filtered = await allPages(client, 2, ['LIKE', 'REPOST']);
    assert.deepEqual(
      filtered.map((p) => p.edges.length),
      [2, 2],
    );
    assert.deepEqual(
      filtered.flatMap((p) => p.edges.map((e) => shape(e.node))),
      expected.filter((g) => g.kind !== 'FOLLOW'),
    );

    // Unread: all five; seen up to the fourth group (the repost), the
    // three newer stay unread.
    assert.equal(await unread(client), 5);
    const markSeen = async (until: string) => {
      const result = await client.mutation(MarkNotificationsSeenDocument, { until }).toPromise();
      assert.equal(result.error, undefined);
      assert.deepEqual(result.data?.markNotificationsSeen.errors, []);
      return result.data?.markNotificationsSeen.unreadNotificationCount;
    };
    assert.equal(await markSeen(shown[3]!.createdAt), 3);
    assert.equal(await unread(client), 3);
    assert.deepEqual(
      (await allPages(client, 10))[0]!.edges.map((e) => e.node.read),
      [false, false, false, true, true],
    );
    // The marker never moves back.
    assert.equal(await markSeen(shown[4]!.createdAt), 3);
    // Past now counts as now: everything read.
    assert.equal(await markSeen('2999-01-01T00:00:00Z'), 0);
    assert.equal(await unread(client), 0);

    // A new like of post 2 moves its group to the top, unread again.
    await like(server.url, actors[3]!, posts[1]!);
    assert.equal(await unread(client), 1);
    const top = (await allPages(client, 1))[0]!.edges[0]!.node;
    assert.deepEqual(shape(top), {
      kind: 'LIKE',
      post: posts[1],
      actors: [actors[3]!.handle, actors[2]!.handle],
    });
    assert.equal(top.read, false);
    assert.equal(top.actorCount, 2);
  },
);
