// urql pages through a feed as a UI without a normalised cache does: each
// page is the Feed query again with `after` set to the previous page's
// `pageInfo.endCursor`, and the screen concatenates the pages. Every post
// comes once, newest first, even when a followed author posts between two
// pages. Also the other social operations through urql, so their codegen'd
// types are used, not only compiled.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { Client } from '@urql/core';

import {
  CreatePostDocument,
  DeletePostDocument,
  FeedDocument,
  type FeedQuery,
  FollowDocument,
  FollowersDocument,
  MyProfileDocument,
  ProfilePageDocument,
  UnfollowDocument,
  UpdateProfileDocument,
} from './gql/graphql.js';
import { type Server, startServer } from './server.js';
import { seedFeed, signUp, write } from './social.js';
import { urqlClient } from './urql.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

type Page = FeedQuery['feed'];

/** One page of the feed, `after` the cursor (null: the first page). */
async function feedPage(
  client: Client,
  after: string | null,
  refresh = false,
): Promise<Page> {
  const result = await client
    .query(
      FeedDocument,
      { first: 10, after },
      { requestPolicy: refresh ? 'network-only' : 'cache-first' },
    )
    .toPromise();
  assert.equal(result.error, undefined);
  return result.data!.feed;
}

const ids = (page: Page) => page.edges.map((e) => e.node.id);

test(
  'urql pages a feed with the cursor: every post once, newest first, while posts are written',
  { timeout: 120_000 },
  async () => {
    const { viewer, authors, expected } = await seedFeed(server.url, 'urql', 45);
    const client = urqlClient(server.url, viewer.tokens);

    const pages = [await feedPage(client, null)];
    let late: string | null = null;
    while (pages.at(-1)!.pageInfo.hasNextPage) {
      assert.ok(pages.length < 5, 'the feed ends after 45 posts');
      pages.push(await feedPage(client, pages.at(-1)!.pageInfo.endCursor!));
      // After the second page, a followed author posts: newer than every
      // post shown, so it belongs before the first page, not in a later one.
      if (pages.length === 2) late = await write(server.url, authors[2]!, 'written while paging');
    }

    assert.deepEqual(
      pages.map((p) => p.edges.length),
      [10, 10, 10, 10, 5],
    );
    pages.forEach((page, i) => {
      assert.deepEqual(ids(page), expected.slice(i * 10, i * 10 + 10), `page ${i + 1}`);
      assert.equal(page.pageInfo.endCursor, page.edges.at(-1)?.cursor);
    });
    const shown = pages.flatMap(ids);
    assert.deepEqual(shown, expected, 'every post once, newest first');
    assert.equal(new Set(shown).size, 45);
    assert.ok(late && !shown.includes(late), 'the new post is not in a later page');

    // Pull to refresh: the first page again, past urql's document cache,
    // with the new post on top; its cursor leads on to the old second page
    // shifted by one, not to the new post again.
    const top = await feedPage(client, null, true);
    assert.deepEqual(ids(top), [late, ...expected.slice(0, 9)]);
    const next = await feedPage(client, top.pageInfo.endCursor!);
    assert.deepEqual(ids(next), expected.slice(9, 19));
  },
);

test('urql runs the social operations with their codegen types', { timeout: 120_000 }, async () => {
  const ann = await signUp(server.url, 'urql_ann');
  const ben = await signUp(server.url, 'urql_ben');
  const annClient = urqlClient(server.url, ann.tokens);
  const benClient = urqlClient(server.url, ben.tokens);
  const fresh = { requestPolicy: 'network-only' } as const;

  const mine = await annClient.query(MyProfileDocument, {}, fresh).toPromise();
  assert.equal(mine.error, undefined);
  assert.equal(mine.data?.me?.profile.handle, 'urql_ann');
  assert.equal(mine.data?.me?.profile.displayName, null);

  const reserved = await annClient
    .mutation(UpdateProfileDocument, { input: { handle: 'Admin' } })
    .toPromise();
  assert.deepEqual(
    reserved.data?.updateProfile.errors.map((e) => [e.code, e.field]),
    [['INVALID_HANDLE', ['input', 'handle']]],
  );
  assert.equal(reserved.data?.updateProfile.profile, null);
  const updated = await annClient
    .mutation(UpdateProfileDocument, {
      input: { handle: 'URQL_Anne', displayName: ' Anne ', bio: 'line one\r\nline two' },
    })
    .toPromise();
  assert.deepEqual(updated.data?.updateProfile.errors, []);
  assert.deepEqual(
    {
      handle: updated.data?.updateProfile.profile?.handle,
      displayName: updated.data?.updateProfile.profile?.displayName,
      bio: updated.data?.updateProfile.profile?.bio,
    },
    { handle: 'urql_anne', displayName: 'Anne', bio: 'line one\nline two' },
  );

  // Following twice is one edge; following oneself or nobody is refused.
  for (const _ of [1, 2]) {
    const followed = await benClient.mutation(FollowDocument, { handle: 'urql_anne' }).toPromise();
    assert.deepEqual(followed.data?.follow.errors, []);
    assert.equal(followed.data?.follow.profile?.followerCount, 1);
    assert.equal(followed.data?.follow.profile?.viewerFollows, true);
  }
  const self = await annClient.mutation(FollowDocument, { handle: 'urql_anne' }).toPromise();
  assert.deepEqual(
    self.data?.follow.errors.map((e) => e.code),
    ['CANNOT_FOLLOW_SELF'],
  );
  const nobody = await benClient.mutation(FollowDocument, { handle: 'no_such_one' }).toPromise();
  assert.deepEqual(
    nobody.data?.follow.errors.map((e) => [e.code, e.field]),
    [['NOT_FOUND', ['handle']]],
  );

  const followers = await annClient
    .query(FollowersDocument, { handle: 'urql_anne', first: 5 }, fresh)
    .toPromise();
  assert.deepEqual(
    followers.data?.profile?.followers.edges.map((e) => [e.node.handle, e.node.viewerFollows]),
    [['urql_ben', false]],
  );
  assert.equal(followers.data?.profile?.followers.pageInfo.hasNextPage, false);

  const tooLong = await annClient
    .mutation(CreatePostDocument, { input: { body: 'é'.repeat(501) } })
    .toPromise();
  assert.deepEqual(
    tooLong.data?.createPost.errors.map((e) => [e.code, e.field]),
    [['TEXT_TOO_LONG', ['input', 'body']]],
  );
  const created = await annClient
    .mutation(CreatePostDocument, { input: { body: '  hello from urql  ' } })
    .toPromise();
  assert.deepEqual(created.data?.createPost.errors, []);
  const postId = created.data!.createPost.post!.id;
  assert.equal(created.data?.createPost.post?.body, 'hello from urql');

  const seenByBen = await benClient
    .query(ProfilePageDocument, { handle: 'URQL_ANNE', first: 10 }, fresh)
    .toPromise();
  const anne = seenByBen.data?.profile;
  assert.deepEqual(
    [anne?.postCount, anne?.followerCount, anne?.followingCount, anne?.viewerFollows],
    [1, 1, 0, true],
  );
  assert.deepEqual(
    anne?.posts.edges.map((e) => e.node.id),
    [postId],
  );
  assert.equal((await feedPage(benClient, null, true)).edges[0]?.node.id, postId);

  // Someone else's post is FORBIDDEN (a top-level error); the author's own
  // goes, from the profile and from the follower's feed.
  const forbidden = await benClient.mutation(DeletePostDocument, { id: postId }).toPromise();
  assert.equal(forbidden.error?.graphQLErrors[0]?.extensions?.['code'], 'FORBIDDEN');
  const deleted = await annClient.mutation(DeletePostDocument, { id: postId }).toPromise();
  assert.equal(deleted.data?.deletePost.deleted, true);
  assert.deepEqual((await feedPage(benClient, null, true)).edges, []);

  const unfollowed = await benClient.mutation(UnfollowDocument, { handle: 'urql_anne' }).toPromise();
  assert.deepEqual(unfollowed.data?.unfollow.errors, []);
  assert.equal(unfollowed.data?.unfollow.profile?.followerCount, 0);
  assert.equal(unfollowed.data?.unfollow.profile?.viewerFollows, false);
});
