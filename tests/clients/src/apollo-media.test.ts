// Apollo Client 4 uploading images through apollo-upload-client's link
// (apollo.ts), with `Apollo-Require-Preflight`: a PNG with transparency is
// kept as PNG; an upload goes on a post and becomes the avatar, and the
// normalised cache holds each Media once, by id. A cleared avatar's image
// stops being served; the post's stays.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { apolloClient } from './apollo.js';
import {
  type MediaFieldsFragment,
  MediaFieldsFragmentDoc,
  PostMediaDocument,
  PostWithMediaDocument,
  SetAvatarDocument,
  UploadMediaDocument,
} from './gql/graphql.js';
import { fetchImage, png } from './images.js';
import { type Server, startServer } from './server.js';
import { signUp } from './social.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

async function upload(client: ReturnType<typeof apolloClient>, file: Blob, alt?: string): Promise<MediaFieldsFragment> {
  const { data, error } = await client.mutate({ mutation: UploadMediaDocument, variables: { file, alt } });
  assert.equal(error, undefined);
  assert.deepEqual(data?.uploadMedia.errors, []);
  assert.ok(data?.uploadMedia.media);
  return data.uploadMedia.media;
}

test('Apollo uploads a transparent PNG, kept as PNG at url and previewUrl', async () => {
  const author = await signUp(server.url, 'apollo_upload');
  const client = apolloClient(server.url, author.tokens);
  const media = await upload(client, new File([png(1000, 500, true)], 'glass.png', { type: 'image/png' }), 'Glass');
  assert.deepEqual([media.width, media.height, media.alt], [1000, 500, 'Glass']);

  const full = await fetchImage(media.url);
  assert.deepEqual(full, { type: 'image/png', width: 1000, height: 500, contentType: 'image/png', nosniff: 'nosniff' });
  const preview = await fetchImage(media.previewUrl);
  assert.deepEqual([preview.type, preview.width, preview.height], ['image/png', 400, 200]);

  // The cache keeps the Media by id.
  const cached = client.readFragment({
    fragment: MediaFieldsFragmentDoc,
    id: client.cache.identify({ __typename: 'Media', id: media.id }),
  });
  assert.deepEqual(cached, media);
});

test('Apollo puts an upload on a post and another in the avatar', async () => {
  const author = await signUp(server.url, 'apollo_attach');
  const client = apolloClient(server.url, author.tokens);
  // A Blob (no file name) is an upload too.
  const picture = await upload(client, new Blob([png(64, 48)], { type: 'image/png' }));
  assert.equal(picture.alt, null);
  const face = await upload(client, new File([png(256, 256)], 'face.png', { type: 'image/png' }), 'Me');

  const created = await client.mutate({
    mutation: PostWithMediaDocument,
    variables: { input: { body: 'from Apollo, with a picture', mediaIds: [picture.id] } },
  });
  assert.equal(created.error, undefined);
  assert.deepEqual(created.data?.createPost.errors, []);
  const postId = created.data!.createPost.post!.id;
  assert.deepEqual(created.data?.createPost.post?.media, [picture]);

  const avatar = await client.mutate({ mutation: SetAvatarDocument, variables: { avatarId: face.id } });
  assert.equal(avatar.error, undefined);
  assert.deepEqual(avatar.data?.updateProfile.errors, []);
  assert.deepEqual(avatar.data?.updateProfile.profile?.avatar, face);

  const read = await client.query({ query: PostMediaDocument, variables: { id: postId } });
  assert.equal(read.error, undefined);
  assert.deepEqual(read.data?.post?.media, [picture]);
  assert.deepEqual(read.data?.post?.author.avatar, face);

  // Cleared (null): no avatar, and soon no image at its url (the server's
  // deletion queue removes it in the background).
  const cleared = await client.mutate({ mutation: SetAvatarDocument, variables: { avatarId: null } });
  assert.deepEqual(cleared.data?.updateProfile.errors, []);
  assert.equal(cleared.data?.updateProfile.profile?.avatar, null);
  await gone(face.url);
  await gone(face.previewUrl);
  assert.equal((await fetch(picture.url)).status, 200, 'the post keeps its picture');
});

/** Waits (20 s at most) until `url` answers 404. */
async function gone(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const response = await fetch(url);
    await response.arrayBuffer();
    const { status } = response;
    if (status === 404) return;
    if (Date.now() > deadline) throw new Error(`${url} still answers ${status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
