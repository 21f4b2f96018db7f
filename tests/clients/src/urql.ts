// How a frontend wires urql to sns-api: the access token in the
// Authorization header, and on UNAUTHENTICATED one `refresh` with the stored
// refresh token, then the failed operation again (docs/frontend.md).
import { Client, type Exchange, cacheExchange, fetchExchange, makeOperation } from '@urql/core';
import { authExchange } from '@urql/exchange-auth';

import { RefreshDocument } from './gql/graphql.js';
import { TokenStore, isUnauthenticated } from './tokens.js';

export interface UrqlOptions {
  /** What sends the operations (default: the global fetch). */
  fetch?: typeof fetch;
  /** The cache (default: urql's document cache; see graphcache.ts for a normalised one). */
  cache?: Exchange;
}

export function urqlClient(url: string, tokens: TokenStore, options: UrqlOptions = {}): Client {
  return new Client({
    url,
    preferGetMethod: false, // sns-api executes POST only
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
          const refreshToken = tokens.refreshToken;
          tokens.accessToken = null;
          if (!refreshToken) return;
          const result = await utils.mutate(RefreshDocument, {
            input: { refreshToken },
          });
          const payload = result.data?.refresh;
          if (payload?.accessToken && payload.refreshToken) {
            tokens.set(payload.accessToken, payload.refreshToken);
          } else {
            tokens.clear(); // the session is over: sign in again
          }
        },
      })),
      fetchExchange,
    ],
  });
}
