// How a frontend wires Apollo Client 4 to sns-api: a SetContextLink adds the
// access token; an ErrorLink answers UNAUTHENTICATED with one `refresh`
// (tokens.ts: shared by every operation failing at the same time) and retries
// the operation, which passes the SetContextLink again with the new token.
// Subscriptions split off to a GraphQLWsLink over the socket (live.ts).
// The cache keeps one list per connection field, which `fetchMore` with
// `after: pageInfo.endCursor` extends page by page. apollo-upload-client's
// link sends variables holding a File or Blob as a multipart request.
import {
  ApolloClient,
  ApolloLink,
  CombinedGraphQLErrors,
  InMemoryCache,
} from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { ErrorLink } from '@apollo/client/link/error';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { relayStylePagination } from '@apollo/client/utilities';
import UploadHttpLink from 'apollo-upload-client/UploadHttpLink.mjs';
import { OperationTypeNode } from 'graphql';
import type { Client as LiveClient } from 'graphql-ws';
import { from, switchMap } from 'rxjs';

import { TokenStore, isUnauthenticated } from './tokens.js';

export interface ApolloOptions {
  /** What sends the operations (default: the global fetch). */
  fetch?: typeof fetch;
  /** The socket subscriptions run on (live.ts); without it, none can. */
  live?: LiveClient;
}

export function apolloClient(
  url: string,
  tokens: TokenStore,
  options: ApolloOptions = {},
): ApolloClient {
  const auth = new SetContextLink(({ headers }) => ({
    headers: tokens.accessToken
      ? { ...headers, Authorization: `Bearer ${tokens.accessToken}` }
      : headers,
  }));

  const retryOnUnauthenticated = new ErrorLink(({ error, operation, forward }) => {
    if (!CombinedGraphQLErrors.is(error) || !isUnauthenticated(error.errors)) return;
    if (operation.getContext()['retriedAfterRefresh']) return;
    operation.setContext({ retriedAfterRefresh: true });
    return from(tokens.refresh(url)).pipe(
      switchMap((ok) => {
        if (!ok) throw error;
        return forward(operation);
      }),
    );
  });

  const http = ApolloLink.from([
    retryOnUnauthenticated,
    auth,
    // sns-api takes a multipart upload only with this header (see uploadMedia).
    new UploadHttpLink({ uri: url, fetch: options.fetch, headers: { 'Apollo-Require-Preflight': 'true' } }),
  ]);

  return new ApolloClient({
    link: options.live
      ? ApolloLink.split(
          (operation) => operation.operationType === OperationTypeNode.SUBSCRIPTION,
          new GraphQLWsLink(options.live),
          http,
        )
      : http,
    cache: new InMemoryCache({
      typePolicies: {
        // `first` and `after` choose a page, not a list: keyArgs false.
        Query: {
          fields: {
            feed: relayStylePagination(),
            // One list per `kinds` filter.
            notifications: relayStylePagination(['kinds']),
          },
        },
        Profile: {
          fields: {
            posts: relayStylePagination(),
            followers: relayStylePagination(),
            following: relayStylePagination(),
          },
        },
      },
    }),
    defaultOptions: { query: { fetchPolicy: 'network-only' } },
  });
}
