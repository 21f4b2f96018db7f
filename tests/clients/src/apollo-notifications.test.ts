// Apollo Client 4 shows the notifications as a UI does: one watched query
// paged with `fetchMore` (relayStylePagination keyed by `kinds`, apollo.ts),
// every group once, newest first; and the unread badge, which
// `markNotificationsSeen` lowers through an `update` that writes the answered
// count into the cached user, without a refetch.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { apolloClient } from './apollo.js';
import { loaded, next } from './apollo-watch.js';
import {
  MarkNotificationsSeenDocument,
  NotificationsDocument,
  type NotificationsQuery,
  UnreadNotificationsDocument,
} from './gql/graphql.js';
import { type Server, startServer } from './server.js';
import { type Group, seedInbox } from './social.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

type Notification = NotificationsQuery['notifications']['edges'][number]['node'];
const shape = (n: Notification): Group => ({
  kind: n.kind,
  post: n.post?.id ?? null,
  actors: n.actors.map((a) => a.handle),
});
const nodes = (list: NotificationsQuery['notifications']) => list.edges.map((e) => e.node);

test(
  'Apollo pages notifications with fetchMore: every group once, newest first; the unread badge',
  { timeout: 120_000 },
  async () => {
    const { viewer, expected } = await seedInbox(server.url, 'apollo_n');
    const client = apolloClient(server.url, viewer.tokens);
    const inbox = client.watchQuery({ query: NotificationsDocument, variables: { first: 2 } });
    const badge = client.watchQuery({ query: UnreadNotificationsDocument });
    const screens = [inbox.subscribe(() => {}), badge.subscribe(() => {})];
    try {
      let list = (await loaded(inbox)).notifications;
      const pages = [nodes(list).map((n) => n.id)];
      while (list.pageInfo.hasNextPage) {
        assert.ok(pages.length < 3, 'five groups end after three pages of two');
        const merged = next(inbox);
        const more = await inbox.fetchMore({ variables: { after: list.pageInfo.endCursor } });
        pages.push(nodes(more.data!.notifications).map((n) => n.id));
        list = (await merged).notifications;
      }
      assert.deepEqual(
        pages.map((p) => p.length),
        [2, 2, 1],
      );
      const all = nodes(list);
      assert.deepEqual(all.map((n) => n.id), pages.flat(), 'the merged list is the pages in order');
      assert.equal(new Set(all.map((n) => n.id)).size, 5, 'no group twice');
      assert.deepEqual(all.map(shape), expected, 'every group, newest first');
      assert.deepEqual(
        all.map((n) => n.actorCount),
        [2, 1, 2, 1, 1],
      );
      const times = all.map((n) => Date.parse(n.createdAt));
      assert.deepEqual([...times].sort((a, b) => b - a), times, 'createdAt newest first');
      assert.ok(all.every((n) => !n.read));

      // A filter is a list of its own: the likes only, newest first.
      const likes = await client.query({
        query: NotificationsDocument,
        variables: { first: 10, kinds: ['LIKE'] },
      });
      assert.deepEqual(
        nodes(likes.data!.notifications).map(shape),
        expected.filter((g) => g.kind === 'LIKE'),
      );

      // The badge: five unread; seen up to the FOLLOW group (the third),
      // the two newer stay unread.
      const me = (await loaded(badge)).me!;
      assert.equal(me.unreadNotificationCount, 5);
      const markSeen = async (until: string) => {
        const lowered = next(badge);
        const answer = await client.mutate({
          mutation: MarkNotificationsSeenDocument,
          variables: { until },
          update(cache, { data }) {
            const count = data?.markNotificationsSeen.unreadNotificationCount;
            if (count === undefined) return;
            cache.modify({
              id: cache.identify({ __typename: 'User', id: me.id }),
              fields: { unreadNotificationCount: () => count },
            });
          },
        });
        assert.deepEqual(answer.data?.markNotificationsSeen.errors, []);
        const count = answer.data!.markNotificationsSeen.unreadNotificationCount;
        assert.equal((await lowered).me?.unreadNotificationCount, count, 'the badge shows the answer');
        return count;
      };
      assert.equal(await markSeen(all[2]!.createdAt), 2);
      const marked = await client.query({ query: NotificationsDocument, variables: { first: 10 } });
      assert.deepEqual(
        nodes(marked.data!.notifications).map((n) => n.read),
        [false, false, true, true, true],
      );
      // A moment past now counts as now: everything is read.
      assert.equal(await markSeen('2999-01-01T00:00:00Z'), 0);
      const fresh = await client.query({ query: UnreadNotificationsDocument });
      assert.equal(fresh.data?.me?.unreadNotificationCount, 0);
    } finally {
      for (const screen of screens) screen.unsubscribe();
    }
  },
);
