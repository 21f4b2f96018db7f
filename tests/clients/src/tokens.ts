// Where a frontend keeps its two tokens. In a browser app this would be
// memory for the access token and, say, localStorage or an httpOnly cookie
// relay for the refresh token; the client tests keep both in memory.
export class TokenStore {
  accessToken: string | null = null;
  refreshToken: string | null = null;

  set(accessToken: string, refreshToken: string): void {
    this.accessToken = accessToken;
    this.refreshToken = refreshToken;
  }

  clear(): void {
    this.accessToken = null;
    this.refreshToken = null;
  }
}

/** Whether a GraphQL error list says the access token was refused. */
export function isUnauthenticated(
  errors: ReadonlyArray<{ extensions?: Record<string, unknown> | null }>,
): boolean {
  return errors.some((e) => e.extensions?.['code'] === 'UNAUTHENTICATED');
}
