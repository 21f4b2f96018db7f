// A normalised cache for urql (Graphcache), as a frontend that shows a like
// at once would wire it: every Post is one record keyed by its id, so the
// answer to `like` updates the post wherever a query shows it; `like` and
// `unlike` also answer optimistically (the count one up or down, the heart
// set or cleared) until the server's answer replaces the guess, or its
// error takes it back.
import type { Exchange } from '@urql/core';
import { type Cache, cacheExchange } from '@urql/exchange-graphcache';

/** The typenames without an id: kept inside their parent record. */
const EMBEDDED = [
  'PageInfo',
  'PostConnection',
  'PostEdge',
  'ProfileConnection',
  'ProfileEdge',
  'NotificationConnection',
  'NotificationEdge',
  'PostPayload',
  'ProfilePayload',
  'FollowPayload',
  'DeletePayload',
  'MarkSeenPayload',
  'UserError',
] as const;

type PostArgs = { postId?: unknown };

/** A post's counters as the cache has them now; null when it has not seen the post. */
function cachedPost(cache: Cache, args: PostArgs) {
  const post = { __typename: 'Post', id: String(args.postId) };
  if (cache.resolve(post, 'likeCount') == null) return null;
  const number = (field: string) => Number(cache.resolve(post, field) ?? 0);
  const flag = (field: string) => Boolean(cache.resolve(post, field));
  return {
    ...post,
    likeCount: number('likeCount'),
    repostCount: number('repostCount'),
    viewerHasLiked: flag('viewerHasLiked'),
    viewerHasReposted: flag('viewerHasReposted'),
  };
}

/** What `like` (up) or `unlike` (down) will answer, judged from the cache. */
function likeGuess(liked: boolean) {
  return (args: PostArgs, cache: Cache) => {
    const post = cachedPost(cache, args);
    const changes = post !== null && post.viewerHasLiked !== liked;
    return {
      __typename: 'PostPayload',
      post:
        post === null
          ? null
          : {
              ...post,
              likeCount: post.likeCount + (changes ? (liked ? 1 : -1) : 0),
              viewerHasLiked: liked,
            },
      errors: [],
    };
  };
}

export function normalisedCache(): Exchange {
  return cacheExchange({
    keys: Object.fromEntries(EMBEDDED.map((typename) => [typename, () => null])),
    optimistic: {
      like: likeGuess(true),
      unlike: likeGuess(false),
    },
  });
}
