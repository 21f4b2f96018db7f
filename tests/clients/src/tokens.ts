// Where a frontend keeps its two tokens, and how it renews them. In a
// browser app this would be memory for the access token and, say,
// localStorage or an httpOnly cookie relay for the refresh token; the client
// tests keep both in memory.
import { print } from 'graphql';

import { RefreshDocument, type RefreshMutation } from './gql/graphql.js';

export class TokenStore {
  accessToken: string | null = null;
  refreshToken: string | null = null;
  #refreshing: Promise<boolean> | null = null;

  set(accessToken: string, refreshToken: string): void {
    this.accessToken = accessToken;
    this.refreshToken = refreshToken;
  }

  clear(): void {
    this.accessToken = null;
    this.refreshToken = null;
  }

  /**
   * One `refresh` with the stored refresh token, shared by every caller
   * until it answers (the HTTP client and the socket often find the token
   * expired together): true with both new tokens stored; false, signed out,
   * when the session is over. A plain fetch, outside any client, so that a
   * failing refresh can't loop.
   */
  refresh(url: string): Promise<boolean> {
    this.#refreshing ??= this.#refresh(url).finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #refresh(url: string): Promise<boolean> {
    const refreshToken = this.refreshToken;
    this.accessToken = null;
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
      this.set(payload.accessToken, payload.refreshToken);
      return true;
    }
    this.clear(); // the session is over: sign in again
    return false;
  }
}

/** Whether a GraphQL error list says the access token was refused. */
export function isUnauthenticated(
  errors: ReadonlyArray<{ extensions?: Record<string, unknown> | null }>,
): boolean {
  return errors.some((e) => e.extensions?.['code'] === 'UNAUTHENTICATED');
}
