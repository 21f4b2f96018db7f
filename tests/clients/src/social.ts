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
  RegisterDocument,
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
