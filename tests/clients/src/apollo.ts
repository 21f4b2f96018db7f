// How a frontend wires Apollo Client 4 to sns-api: a SetContextLink adds the
// access token; an ErrorLink answers UNAUTHENTICATED with one `refresh`
// (shared by every operation failing at the same time) and retries the
// operation, which passes the SetContextLink again with the new token.
// The cache keeps one list per connection field, which `fetchMore` with
// `after: pageInfo.endCursor` extends page by page.
import {
  ApolloClient,
  ApolloLink,
  CombinedGraphQLErrors,
  HttpLink,
  InMemoryCache,
} from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { ErrorLink } from '@apollo/client/link/error';
import { relayStylePagination } from '@apollo/client/utilities';
import { print } from 'graphql';
import { from, switchMap } from 'rxjs';

import { RefreshDocument, type RefreshMutation } from './gql/graphql.js';
import { TokenStore, isUnauthenticated } from './tokens.js';

export interface ApolloOptions {
  /** What sends the operations (default: the global fetch). */
  fetch?: typeof fetch;
}

export function apolloClient(
  url: string,
  tokens: TokenStore,
  options: ApolloOptions = {},
): ApolloClient {
  let refreshing: Promise<boolean> | null = null;

  // A plain fetch, outside the link chain, so a failing refresh can't loop.
  async function refresh(): Promise<boolean> {
    const refreshToken = tokens.refreshToken;
    tokens.accessToken = null;
    if (!refreshToken) return false;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: print(RefreshDocument),
        variables: { input: { refreshToken } },
      }),
    });
    const body = (await response.json()) as { data?: RefreshMutation };
    const payload = body.data?.refresh;
    if (payload?.accessToken && payload.refreshToken) {
      tokens.set(payload.accessToken, payload.refreshToken);
      return true;
    }
    tokens.clear(); // the session is over: sign in again
    return false;
  }

  const auth = new SetContextLink(({ headers }) => ({
    headers: tokens.accessToken
      ? { ...headers, Authorization: `Bearer ${tokens.accessToken}` }
      : headers,
  }));

  const retryOnUnauthenticated = new ErrorLink(({ error, operation, forward }) => {
    if (!CombinedGraphQLErrors.is(error) || !isUnauthenticated(error.errors)) return;
    if (operation.getContext()['retriedAfterRefresh']) return;
    operation.setContext({ retriedAfterRefresh: true });
    refreshing ??= refresh().finally(() => {
      refreshing = null;
    });
    return from(refreshing).pipe(
      switchMap((ok) => {
        if (!ok) throw error;
        return forward(operation);
      }),
    );
  });

  return new ApolloClient({
    link: ApolloLink.from([
      retryOnUnauthenticated,
      auth,
      new HttpLink({ uri: url, fetch: options.fetch }),
    ]),
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
