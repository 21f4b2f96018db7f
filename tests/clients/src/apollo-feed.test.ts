// Apollo Client 4 pages through a feed as a UI does: one watched query,
// `fetchMore` with the list's `pageInfo.endCursor`, relayStylePagination
// (apollo.ts) appending each page. Every post comes once, newest first, even
// when a followed author posts between two pages; a refetch starts over
// from the new post.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { firstValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';

import { apolloClient } from './apollo.js';
import { next } from './apollo-watch.js';
import { FeedDocument, type FeedQuery, ProfilePageDocument } from './gql/graphql.js';
import { type Server, startServer } from './server.js';
import { seedFeed, write } from './social.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

const ids = (connection: FeedQuery['feed']) => connection.edges.map((e) => e.node.id);

test(
  'Apollo pages a feed with fetchMore: every post once, newest first, while posts are written',
  { timeout: 120_000 },
  async () => {
    const { viewer, authors, expected } = await seedFeed(server.url, 'apollo', 45);
    const client = apolloClient(server.url, viewer.tokens);
    const feed = client.watchQuery({ query: FeedDocument, variables: { first: 10 } });
    // The screen showing the feed: it stays subscribed while pages load.
    const screen = feed.subscribe(() => {});
    try {
      const first = await firstValueFrom(feed.pipe(filter((r) => r.dataState === 'complete')));
      let list = first.data!.feed;
      const pages = [ids(list)];
      let late: string | null = null;
      while (list.pageInfo.hasNextPage) {
        const merged = next(feed);
        const more = await feed.fetchMore({ variables: { after: list.pageInfo.endCursor } });
        list = (await merged).feed;
        pages.push(ids(more.data!.feed));
        assert.ok(pages.length <= 5, 'the feed ends after 45 posts');
        // After the second page, a followed author posts: newer than every
        // post shown, so it belongs before the first page, not in a later one.
        if (pages.length === 2) late = await write(server.url, authors[1]!, 'written while paging');
      }

      assert.deepEqual(
        pages.map((p) => p.length),
        [10, 10, 10, 10, 5],
      );
      pages.forEach((page, i) => {
        assert.deepEqual(page, expected.slice(i * 10, i * 10 + 10), `page ${i + 1} as on the server`);
      });
      const all = ids(list);
      assert.deepEqual(all, expected, 'the merged list: every post once, newest first');
      assert.equal(new Set(all).size, 45);
      assert.ok(late && !all.includes(late), 'the new post is not in a later page');

      // Pull to refresh: the list starts over from the first page, the new
      // post on top; paging to the end shows every post once again.
      const refetched = next(feed);
      await feed.refetch();
      list = (await refetched).feed;
      assert.deepEqual(ids(list), [late, ...expected.slice(0, 9)], 'refetch replaces the list');
      for (let more = 0; list.pageInfo.hasNextPage; more++) {
        assert.ok(more < 5, 'the feed ends after 46 posts');
        const merged = next(feed);
        await feed.fetchMore({ variables: { after: list.pageInfo.endCursor } });
        list = (await merged).feed;
      }
      assert.deepEqual(ids(list), [late, ...expected]);
    } finally {
      screen.unsubscribe();
    }
  },
);

test("Apollo pages a profile's posts into its Profile.posts list", { timeout: 120_000 }, async () => {
  const { viewer, authors, expected } = await seedFeed(server.url, 'apollo_p', 24);
  const client = apolloClient(server.url, viewer.tokens);
  const author = authors[0]!;
  // The seed's posts go to the authors in turns, oldest first.
  const theirs = expected.filter((_, i) => (expected.length - 1 - i) % authors.length === 0);
  const profile = client.watchQuery({
    query: ProfilePageDocument,
    variables: { handle: author.handle.toUpperCase(), first: 3 },
  });
  const screen = profile.subscribe(() => {});
  try {
    const first = await firstValueFrom(profile.pipe(filter((r) => r.dataState === 'complete')));
    let shownProfile = first.data!.profile!;
    assert.equal(shownProfile.handle, author.handle);
    assert.equal(shownProfile.postCount, 8);
    assert.equal(shownProfile.followerCount, 1);
    assert.equal(shownProfile.viewerFollows, true);
    for (let more = 0; shownProfile.posts.pageInfo.hasNextPage; more++) {
      assert.ok(more < 3, 'eight posts end after three pages of three');
      const merged = next(profile);
      await profile.fetchMore({ variables: { after: shownProfile.posts.pageInfo.endCursor } });
      shownProfile = (await merged).profile!;
    }
    assert.deepEqual(
      shownProfile.posts.edges.map((e) => e.node.id),
      theirs,
    );
    assert.ok(shownProfile.posts.edges.every((e) => e.node.author.handle === author.handle));
  } finally {
    screen.unsubscribe();
  }
});
