// How a frontend wires urql to sns-api: the access token in the
// Authorization header, and on UNAUTHENTICATED one `refresh` (tokens.ts),
// then the failed operation again; subscriptions over the socket (live.ts).
// Variables holding a File or Blob go as a multipart request (uploadMedia).
import {
  Client,
  type Exchange,
  cacheExchange,
  fetchExchange,
  makeOperation,
  subscriptionExchange,
} from '@urql/core';
import { authExchange } from '@urql/exchange-auth';
import type { Client as LiveClient } from 'graphql-ws';

import { TokenStore, isUnauthenticated } from './tokens.js';

export interface UrqlOptions {
  /** What sends the operations (default: the global fetch). */
  fetch?: typeof fetch;
  /** The cache (default: urql's document cache; see graphcache.ts for a normalised one). */
  cache?: Exchange;
  /** The socket subscriptions run on (live.ts); without it, none can. */
  live?: LiveClient;
}

export function urqlClient(url: string, tokens: TokenStore, options: UrqlOptions = {}): Client {
  const { live } = options;
  return new Client({
    url,
    preferGetMethod: false, // sns-api executes POST only
    // sns-api takes a multipart upload only with this header (see uploadMedia).
    fetchOptions: { headers: { 'GraphQL-Require-Preflight': '1' } },
    ...(options.fetch ? { fetch: options.fetch } : {}),
    exchanges: [
      options.cache ?? cacheExchange,
      authExchange(async (utils) => ({
        addAuthToOperation(operation) {
          if (tokens.accessToken) {
            return utils.appendHeaders(operation, {
              Authorization: `Bearer ${tokens.accessToken}`,
            });
          }
          // Signed out: a retried operation must not keep the header of its
          // first attempt, or it fails again with the dead token.
          const options =
            typeof operation.context.fetchOptions === 'function'
              ? operation.context.fetchOptions()
              : (operation.context.fetchOptions ?? {});
          const { Authorization: _dropped, ...headers } = (options.headers ?? {}) as Record<string, string>;
          return makeOperation(operation.kind, operation, {
            ...operation.context,
            fetchOptions: { ...options, headers },
          });
        },
        didAuthError(error) {
          return isUnauthenticated(error.graphQLErrors);
        },
        async refreshAuth() {
          await tokens.refresh(url);
        },
      })),
      fetchExchange,
      ...(live
        ? [
            subscriptionExchange({
              forwardSubscription(request) {
                const input = { ...request, query: request.query ?? '' };
                return { subscribe: (sink) => ({ unsubscribe: live.subscribe(input, sink) }) };
              },
            }),
          ]
        : []),
    ],
  });
}
