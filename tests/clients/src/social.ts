// Seeds the social graph for the client tests over plain fetch, with the
// codegen'd documents and their types: accounts with handles, follows and
// posts for urql and Apollo to page through.
import assert from 'node:assert/strict';

import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

import {
  CreatePostDocument,
  DeletePostDocument,
  FollowDocument,
  LikeDocument,
  type NotificationKind,
  RegisterDocument,
  RepostDocument,
} from './gql/graphql.js';
import { post } from './server.js';
import { TokenStore } from './tokens.js';

/** One operation over plain fetch; throws on any top-level error. */
export async function request<TData, TVariables>(
  url: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  token?: string,
): Promise<TData> {
  const body = await post(url, print(document), variables as Record<string, unknown>, token);
  if (body.errors?.length || !body.data) {
    throw new Error(`${print(document).split('(')[0]}: ${JSON.stringify(body.errors)}`);
  }
  return body.data as TData;
}

export interface Account {
  handle: string;
  tokens: TokenStore;
}

export async function signUp(url: string, handle: string): Promise<Account> {
  const { register } = await request(url, RegisterDocument, {
    input: { email: `${handle}@example.com`, password: 'social-client-passphrase', handle },
  });
  assert.deepEqual(register.errors, []);
  assert.equal(register.user?.profile.handle, handle);
  const tokens = new TokenStore();
  tokens.set(register.accessToken!, register.refreshToken!);
  return { handle, tokens };
}

export async function follow(url: string, viewer: Account, handle: string): Promise<void> {
  const { follow } = await request(url, FollowDocument, { handle }, viewer.tokens.accessToken!);
  assert.deepEqual(follow.errors, []);
  assert.equal(follow.profile?.viewerFollows, true);
}

/** Publishes a post; answers its id. */
export async function write(url: string, author: Account, body: string): Promise<string> {
  const { createPost } = await request(
    url,
    CreatePostDocument,
    { input: { body } },
    author.tokens.accessToken!,
  );
  assert.deepEqual(createPost.errors, []);
  assert.equal(createPost.post?.author.handle, author.handle);
  return createPost.post!.id;
}

export async function deletePost(url: string, author: Account, id: string): Promise<void> {
  const { deletePost } = await request(url, DeletePostDocument, { id }, author.tokens.accessToken!);
  assert.deepEqual(deletePost.errors, []);
  assert.equal(deletePost.deleted, true);
}

/** Likes a post; answers its like count after. */
export async function like(url: string, viewer: Account, postId: string): Promise<number> {
  const { like } = await request(url, LikeDocument, { postId }, viewer.tokens.accessToken!);
  assert.deepEqual(like.errors, []);
  assert.equal(like.post?.viewerHasLiked, true);
  return like.post!.likeCount;
}

export async function repost(url: string, viewer: Account, postId: string): Promise<void> {
  const { repost } = await request(url, RepostDocument, { postId }, viewer.tokens.accessToken!);
  assert.deepEqual(repost.errors, []);
  assert.equal(repost.post?.viewerHasReposted, true);
}

/** A notification group as the seed expects it: its kind, post and newest actors. */
export interface Group {
  kind: NotificationKind;
  post: string | null;
  actors: string[];
}

/** Waits until the clock has moved past the current millisecond. */
export async function nextMillisecond(): Promise<void> {
  const now = Date.now();
  while (Date.now() <= now) await new Promise((r) => setTimeout(r, 1));
}

export interface Inbox {
  viewer: Account;
  actors: Account[];
  posts: string[];
  /** The viewer's groups, newest first. */
  expected: Group[];
}

/**
 * A viewer with three posts and four accounts that follow it, like and
 * repost them, in an order that moves groups to the top: five groups
 * (two follows on one day are one group, two likes of one post another).
 */
export async function seedInbox(url: string, prefix: string): Promise<Inbox> {
  const viewer = await signUp(url, `${prefix}_viewer`);
  const actors: Account[] = [];
  for (const name of ['a1', 'a2', 'a3', 'a4']) actors.push(await signUp(url, `${prefix}_${name}`));
  const [a1, a2, a3, a4] = actors as [Account, Account, Account, Account];
  const posts: string[] = [];
  for (const n of [1, 2, 3]) posts.push(await write(url, viewer, `post ${n} by ${viewer.handle}`));
  const [p1, p2, p3] = posts as [string, string, string];

  // Each event a millisecond after the last (the precision of createdAt),
  // so the order of the groups and a seen marker between two are exact.
  const events: Array<() => Promise<unknown>> = [
    () => follow(url, a1, viewer.handle),
    () => like(url, a2, p1),
    () => like(url, a3, p2),
    () => repost(url, a1, p1),
    () => follow(url, a4, viewer.handle), // the FOLLOW group moves up
    () => like(url, a2, p3),
    () => like(url, a3, p1), // the LIKE group of post 1 moves to the top
  ];
  for (const event of events) {
    await event();
    await nextMillisecond();
  }
  const expected: Group[] = [
    { kind: 'LIKE', post: p1, actors: [a3.handle, a2.handle] },
    { kind: 'LIKE', post: p3, actors: [a2.handle] },
    { kind: 'FOLLOW', post: null, actors: [a4.handle, a1.handle] },
    { kind: 'REPOST', post: p1, actors: [a1.handle] },
    { kind: 'LIKE', post: p2, actors: [a3.handle] },
  ];
  return { viewer, actors, posts, expected };
}

export interface Feed {
  viewer: Account;
  authors: Account[];
  stranger: Account;
  /** The ids of the feed's posts, newest first. */
  expected: string[];
}

/**
 * A viewer following three authors who write `count` posts between them in
 * turns, and a stranger the viewer does not follow whose posts fall between
 * theirs (so a page that let them in would show it). Handles start with
 * `prefix`, so several feeds can share a server.
 */
export async function seedFeed(url: string, prefix: string, count: number): Promise<Feed> {
  const viewer = await signUp(url, `${prefix}_viewer`);
  const authors = [];
  for (const name of ['ada', 'bob', 'cy']) authors.push(await signUp(url, `${prefix}_${name}`));
  const stranger = await signUp(url, `${prefix}_stranger`);
  for (const author of authors) await follow(url, viewer, author.handle);

  const written: string[] = [];
  for (let i = 0; i < count; i++) {
    const author = authors[i % authors.length]!;
    written.push(await write(url, author, `post ${i} by ${author.handle}`));
    if (i % 7 === 3) await write(url, stranger, `unfollowed post ${i}`);
  }
  return { viewer, authors, stranger, expected: written.reverse() };
}
