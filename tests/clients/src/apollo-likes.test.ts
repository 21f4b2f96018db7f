// Apollo Client 4 likes a post as a UI does: the heart and the count change
// at once through an `optimisticResponse` (the cached count plus one), while
// the request waits unsent at a gate (gate.ts); the server's answer then
// replaces the guess with the real count, and a like the server refuses (the
// post was deleted meanwhile: NOT_FOUND) takes the guess back. Also unlike,
// repost, unrepost and likedBy with their codegen'd types.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { ApolloClient } from '@apollo/client';

import { apolloClient } from './apollo.js';
import { loaded, next, shown } from './apollo-watch.js';
import { Gate } from './gate.js';
import {
  InteractionFieldsFragmentDoc,
  type InteractionFieldsFragment,
  LikeDocument,
  type LikeMutation,
  PostInteractionsDocument,
  type PostInteractionsQuery,
  RepostDocument,
  UnlikeDocument,
  UnrepostDocument,
} from './gql/graphql.js';
import { type Server, startServer } from './server.js';
import { type Account, deletePost, like, request, signUp, write } from './social.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

type Shown = NonNullable<PostInteractionsQuery['post']>;
const counters = (post: InteractionFieldsFragment | Shown | null | undefined) =>
  post && {
    likeCount: post.likeCount,
    repostCount: post.repostCount,
    viewerHasLiked: post.viewerHasLiked,
    viewerHasReposted: post.viewerHasReposted,
  };

/** What a UI guesses `like` answers: the cached post, its count one up. */
function likeGuess(client: ApolloClient, postId: string): LikeMutation {
  const cached = client.readFragment({
    id: client.cache.identify({ __typename: 'Post', id: postId }),
    fragment: InteractionFieldsFragmentDoc,
  });
  assert.ok(cached, 'the post is in the cache');
  return {
    like: {
      __typename: 'PostPayload',
      post: {
        ...cached,
        likeCount: cached.likeCount + (cached.viewerHasLiked ? 0 : 1),
        viewerHasLiked: true,
      },
      errors: [],
    },
  };
}

/** The post as the server has it for `viewer`, past every cache. */
async function onServer(viewer: Account, id: string) {
  const { post } = await request(
    server.url,
    PostInteractionsDocument,
    { id, first: 10 },
    viewer.tokens.accessToken!,
  );
  return post;
}

test(
  'Apollo shows a like at once (optimisticResponse), then the count the server answers',
  { timeout: 60_000 },
  async () => {
    const author = await signUp(server.url, 'apollo_like_author');
    const viewer = await signUp(server.url, 'apollo_like_viewer');
    const other = await signUp(server.url, 'apollo_like_other');
    const postId = await write(server.url, author, 'like this');
    const gate = new Gate();
    const client = apolloClient(server.url, viewer.tokens, { fetch: gate.fetch });
    const variables = { id: postId, first: 10 };
    const watched = client.watchQuery({ query: PostInteractionsDocument, variables });
    const screen = watched.subscribe(() => {});
    try {
      const before = await loaded(watched);
      assert.deepEqual(counters(before.post), {
        likeCount: 0,
        repostCount: 0,
        viewerHasLiked: false,
        viewerHasReposted: false,
      });
      // Someone else likes the post after the screen loaded it: the server
      // has 1, the cache still 0, so the guess (1) and the answer (2) differ.
      assert.equal(await like(server.url, other, postId), 1);

      const held = gate.close();
      const rendered = next(watched);
      const liking = client.mutate({
        mutation: LikeDocument,
        variables: { postId },
        optimisticResponse: likeGuess(client, postId),
      });
      // At once, before the request has left: the optimistic layer has the
      // guess, the cache under it still what the server said.
      const read = (optimistic: boolean) =>
        client.readQuery({ query: PostInteractionsDocument, variables, optimistic })?.post;
      assert.deepEqual([read(true)?.likeCount, read(true)?.viewerHasLiked], [1, true]);
      assert.deepEqual([read(false)?.likeCount, read(false)?.viewerHasLiked], [0, false]);
      await held;
      assert.deepEqual(counters((await rendered).post), {
        likeCount: 1,
        repostCount: 0,
        viewerHasLiked: true,
        viewerHasReposted: false,
      });
      // The server has not seen the like: for it the viewer does not like the post.
      const unsent = await onServer(viewer, postId);
      assert.deepEqual([unsent?.likeCount, unsent?.viewerHasLiked], [1, false]);
      assert.equal(gate.held, 1, 'only the like waited at the gate');

      const answered = next(watched);
      gate.open();
      const result = await liking;
      assert.deepEqual(result.data?.like.errors, []);
      assert.equal(result.data?.like.post?.likeCount, 2);
      assert.deepEqual(counters((await answered).post), {
        likeCount: 2,
        repostCount: 0,
        viewerHasLiked: true,
        viewerHasReposted: false,
      });
      assert.deepEqual([read(false)?.likeCount, read(false)?.viewerHasLiked], [2, true]);

      // likedBy: newest like first.
      const likers = await onServer(viewer, postId);
      assert.deepEqual(
        likers?.likedBy.edges.map((e) => e.node.handle),
        [viewer.handle, other.handle],
      );

      // Liking again changes nothing; unlike, repost and unrepost land in
      // the same cached post without a refetch.
      const again = await client.mutate({ mutation: LikeDocument, variables: { postId } });
      assert.equal(again.data?.like.post?.likeCount, 2);
      for (const [mutation, expected] of [
        [UnlikeDocument, { likeCount: 1, viewerHasLiked: false, repostCount: 0, viewerHasReposted: false }],
        [RepostDocument, { likeCount: 1, viewerHasLiked: false, repostCount: 1, viewerHasReposted: true }],
        [UnrepostDocument, { likeCount: 1, viewerHasLiked: false, repostCount: 0, viewerHasReposted: false }],
      ] as const) {
        const changed = next(watched);
        await client.mutate({ mutation, variables: { postId } });
        assert.deepEqual(counters((await changed).post), expected);
      }
    } finally {
      screen.unsubscribe();
    }
  },
);

test(
  'Apollo takes an optimistic like back when the server answers NOT_FOUND',
  { timeout: 60_000 },
  async () => {
    const author = await signUp(server.url, 'apollo_gone_author');
    const viewer = await signUp(server.url, 'apollo_gone_viewer');
    const postId = await write(server.url, author, 'about to go');
    const gate = new Gate();
    const client = apolloClient(server.url, viewer.tokens, { fetch: gate.fetch });
    const watched = client.watchQuery({
      query: PostInteractionsDocument,
      variables: { id: postId, first: 10 },
    });
    const screen = watched.subscribe(() => {});
    try {
      const before = await loaded(watched);
      assert.deepEqual([before.post?.likeCount, before.post?.viewerHasLiked], [0, false]);
      // The author deletes the post while the viewer's screen shows it.
      await deletePost(server.url, author, postId);

      const held = gate.close();
      const guessed = next(watched);
      const liking = client.mutate({
        mutation: LikeDocument,
        variables: { postId },
        optimisticResponse: likeGuess(client, postId),
      });
      await held;
      const guess = (await guessed).post;
      assert.deepEqual([guess?.likeCount, guess?.viewerHasLiked], [1, true]);

      const rolledBack = next(watched);
      gate.open();
      const result = await liking;
      assert.equal(result.data?.like.post, null);
      assert.deepEqual(
        result.data?.like.errors.map((e) => [e.code, e.field]),
        [['NOT_FOUND', ['postId']]],
      );
      const after = (await rolledBack).post;
      assert.deepEqual([after?.likeCount, after?.viewerHasLiked], [0, false]);
      assert.deepEqual(counters(shown(watched).post), counters(before.post));
    } finally {
      screen.unsubscribe();
    }
  },
);
