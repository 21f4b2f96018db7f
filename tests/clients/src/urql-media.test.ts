// urql uploading an image: a File in the variables makes urql's
// fetchExchange send the GraphQL multipart request, with the preflight
// header urql.ts adds; the server's answer names where the full size and
// the preview are served, and the image goes on a post.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { PostMediaDocument, PostWithMediaDocument, UploadMediaDocument } from './gql/graphql.js';
import { fetchImage, png } from './images.js';
import { type Server, startServer } from './server.js';
import { signUp } from './social.js';
import { urqlClient } from './urql.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

test('urql uploads a PNG as a File and the server serves it re-encoded at url and previewUrl', async () => {
  const author = await signUp(server.url, 'urql_upload');
  const client = urqlClient(server.url, author.tokens);
  const file = new File([png(600, 300)], 'gradient.png', { type: 'image/png' });

  const uploaded = await client.mutation(UploadMediaDocument, { file, alt: 'A gradient' }).toPromise();
  assert.equal(uploaded.error, undefined);
  const { media, errors } = uploaded.data!.uploadMedia;
  assert.deepEqual(errors, []);
  assert.ok(media);
  assert.equal(media.width, 600);
  assert.equal(media.height, 300);
  assert.match(media.blurhash, /^[0-9A-Za-z#$%*+,\-.:;=?@[\]^_{|}~]{6,}$/);
  assert.equal(media.alt, 'A gradient');
  assert.notEqual(media.url, media.previewUrl);

  // No transparency: stored as JPEG, the full size as sent, the preview at 400 px.
  const full = await fetchImage(media.url);
  assert.deepEqual(full, {
    type: 'image/jpeg',
    width: 600,
    height: 300,
    contentType: 'image/jpeg',
    nosniff: 'nosniff',
  });
  const preview = await fetchImage(media.previewUrl);
  assert.deepEqual([preview.type, preview.contentType, preview.width, preview.height], [
    'image/jpeg',
    'image/jpeg',
    400,
    200,
  ]);
});

test('urql attaches an upload to a new post, and the post shows it', async () => {
  const author = await signUp(server.url, 'urql_attach');
  const client = urqlClient(server.url, author.tokens);
  const file = new File([png(120, 90)], 'small.png', { type: 'image/png' });
  const uploaded = await client.mutation(UploadMediaDocument, { file, alt: 'small' }).toPromise();
  assert.equal(uploaded.error, undefined);
  const media = uploaded.data!.uploadMedia.media!;

  const created = await client
    .mutation(PostWithMediaDocument, { input: { body: 'a post with a picture', mediaIds: [media.id] } })
    .toPromise();
  assert.equal(created.error, undefined);
  assert.deepEqual(created.data!.createPost.errors, []);
  const post = created.data!.createPost.post!;
  assert.deepEqual(post.media, [media]);

  const read = await client.query(PostMediaDocument, { id: post.id }, { requestPolicy: 'network-only' }).toPromise();
  assert.equal(read.error, undefined);
  assert.deepEqual(read.data?.post?.media, [media]);

  // Attached once: a second post cannot take it.
  const again = await client
    .mutation(PostWithMediaDocument, { input: { body: 'the same picture', mediaIds: [media.id] } })
    .toPromise();
  assert.equal(again.error, undefined);
  assert.deepEqual(
    again.data!.createPost.errors.map((e) => [e.code, e.field]),
    [['NOT_FOUND', ['input', 'mediaIds']]],
  );
  assert.equal(again.data!.createPost.post, null);
});
