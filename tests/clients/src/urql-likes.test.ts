// urql with Graphcache (graphcache.ts) likes a post as a UI does: the
// optimistic `like` shows the count one up and the heart set at once, while
// the request waits unsent at a gate (gate.ts); the server's answer then
// replaces the guess with the real count, and a like the server refuses (the
// post was deleted meanwhile: NOT_FOUND) takes the guess back. Also unlike,
// repost and unrepost through urql, landing in the same cached post.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { AnyVariables, Client, TypedDocumentNode } from '@urql/core';

import { Gate } from './gate.js';
import {
  LikeDocument,
  PostInteractionsDocument,
  type PostInteractionsQuery,
  RepostDocument,
  UnlikeDocument,
  UnrepostDocument,
} from './gql/graphql.js';
import { normalisedCache } from './graphcache.js';
import { type Server, startServer } from './server.js';
import { type Account, deletePost, like, request, signUp, write } from './social.js';
import { urqlClient } from './urql.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

/** A screen bound to a query: what it shows now, and its next other data. */
function watch<T, V extends AnyVariables>(client: Client, query: TypedDocumentNode<T, V>, variables: V) {
  let shown: T | undefined;
  let waiters: Array<{ from: string; done: (data: T) => void }> = [];
  const subscription = client.query(query, variables).subscribe((result) => {
    assert.equal(result.error, undefined);
    if (!result.data) return;
    shown = result.data;
    const now = JSON.stringify(shown);
    const ready = waiters.filter((w) => w.from !== now);
    waiters = waiters.filter((w) => w.from === now);
    for (const w of ready) w.done(result.data);
  });
  return {
    get shown(): T | undefined {
      return shown;
    },
    /** The next data other than now (a liveness guard, not a speed check, fails it after 30 s). */
    next(): Promise<T> {
      const from = JSON.stringify(shown);
      return new Promise<T>((done, fail) => {
        const guard = setTimeout(() => fail(new Error('the screen never changed')), 30_000);
        waiters.push({
          from,
          done: (data) => {
            clearTimeout(guard);
            done(data);
          },
        });
      });
    },
    stop: () => subscription.unsubscribe(),
  };
}

const heart = (post: PostInteractionsQuery['post'] | undefined) =>
  post && [post.likeCount, post.viewerHasLiked, post.repostCount, post.viewerHasReposted];

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
  'urql (Graphcache) shows a like at once (optimistic), then the count the server answers',
  { timeout: 60_000 },
  async () => {
    const author = await signUp(server.url, 'urql_like_author');
    const viewer = await signUp(server.url, 'urql_like_viewer');
    const other = await signUp(server.url, 'urql_like_other');
    const postId = await write(server.url, author, 'like this');
    const gate = new Gate();
    const client = urqlClient(server.url, viewer.tokens, {
      fetch: gate.fetch,
      cache: normalisedCache(),
    });
    const variables = { id: postId, first: 10 };
    const screen = watch(client, PostInteractionsDocument, variables);
    try {
      const loaded = screen.next();
      assert.deepEqual(heart((await loaded).post), [0, false, 0, false]);
      // Someone else likes the post after the screen loaded it: the server
      // has 1, the cache still 0, so the guess (1) and the answer (2) differ.
      assert.equal(await like(server.url, other, postId), 1);

      const held = gate.close();
      const guessed = screen.next();
      const liking = client.mutation(LikeDocument, { postId }).toPromise();
      // At once, before the request has left: the cache answers the guess.
      assert.deepEqual(
        heart(client.readQuery(PostInteractionsDocument, variables)?.data?.post),
        [1, true, 0, false],
      );
      await held;
      assert.deepEqual(heart((await guessed).post), [1, true, 0, false]);
      // The server has not seen the like: for it the viewer does not like the post.
      const unsent = await onServer(viewer, postId);
      assert.deepEqual([unsent?.likeCount, unsent?.viewerHasLiked], [1, false]);
      assert.equal(gate.held, 1, 'only the like waited at the gate');

      const answered = screen.next();
      gate.open();
      const result = await liking;
      assert.equal(result.error, undefined);
      assert.deepEqual(result.data?.like.errors, []);
      assert.equal(result.data?.like.post?.likeCount, 2);
      assert.deepEqual(heart((await answered).post), [2, true, 0, false]);

      // Unlike (also optimistic), repost and unrepost land in the same
      // cached post: the screen shows each without a refetch.
      for (const [mutation, expected] of [
        [UnlikeDocument, [1, false, 0, false]],
        [RepostDocument, [1, false, 1, true]],
        [UnrepostDocument, [1, false, 0, false]],
      ] as const) {
        const changed = screen.next();
        const done = await client.mutation(mutation, { postId }).toPromise();
        assert.equal(done.error, undefined);
        assert.deepEqual(heart((await changed).post), expected);
      }
      const fresh = await client
        .query(PostInteractionsDocument, variables, { requestPolicy: 'network-only' })
        .toPromise();
      assert.deepEqual(heart(fresh.data?.post), [1, false, 0, false]);
      assert.deepEqual(
        fresh.data?.post?.likedBy.edges.map((e) => e.node.handle),
        [other.handle],
      );
    } finally {
      screen.stop();
    }
  },
);

test(
  'urql (Graphcache) takes an optimistic like back when the server answers NOT_FOUND',
  { timeout: 60_000 },
  async () => {
    const author = await signUp(server.url, 'urql_gone_author');
    const viewer = await signUp(server.url, 'urql_gone_viewer');
    const postId = await write(server.url, author, 'about to go');
    const gate = new Gate();
    const client = urqlClient(server.url, viewer.tokens, {
      fetch: gate.fetch,
      cache: normalisedCache(),
    });
    const screen = watch(client, PostInteractionsDocument, { id: postId, first: 10 });
    try {
      const loaded = screen.next();
      assert.deepEqual(heart((await loaded).post), [0, false, 0, false]);
      // The author deletes the post while the viewer's screen shows it.
      await deletePost(server.url, author, postId);

      const held = gate.close();
      const guessed = screen.next();
      const liking = client.mutation(LikeDocument, { postId }).toPromise();
      await held;
      assert.deepEqual(heart((await guessed).post), [1, true, 0, false]);

      const rolledBack = screen.next();
      gate.open();
      const result = await liking;
      assert.equal(result.data?.like.post, null);
      assert.deepEqual(
        result.data?.like.errors.map((e) => [e.code, e.field]),
        [['NOT_FOUND', ['postId']]],
      );
      assert.deepEqual(heart((await rolledBack).post), [0, false, 0, false]);
    } finally {
      screen.stop();
    }
  },
);
