// How a frontend opens the subscription socket: one graphql-ws client for
// the app, each socket's `connection_init` carrying the access token of the
// moment. The server closes the socket with 4401 `token expired` when that
// token expires, and graphql-ws gives up on 4401 (before any `shouldRetry`),
// so each subscription it ended is subscribed again after one `refresh`
// (tokens.ts): a new socket, with the new token. Events written while no
// socket was open are not replayed: the app reads `feed` / `notifications`
// again on each `connected` after the first (docs/frontend.md).
import type { FormattedExecutionResult } from 'graphql';
import { type Client, type Sink, type SubscribePayload, createClient } from 'graphql-ws';
import WebSocket from 'ws';

import type { TokenStore } from './tokens.js';

/** 4401 `token expired`: refresh, then subscribe again. */
const TOKEN_EXPIRED = 4401;
/** 4403: a bad token, an ended session, too many sockets; retrying won't help. */
const FORBIDDEN = 4403;

/** The close code, when graphql-ws reports a close (else an error event or an Error). */
const closeCode = (event: unknown): unknown =>
  typeof event === 'object' && event !== null && 'reason' in event
    ? (event as { code?: unknown }).code
    : undefined;

/** `url` is the HTTP endpoint (http://host/graphql); the socket is on the same path. */
export function liveClient(url: string, tokens: TokenStore): Client {
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket, // a browser has its own
    connectionParams: () =>
      tokens.accessToken ? { Authorization: `Bearer ${tokens.accessToken}` } : {},
    // Other closes (1006 lost, 1013 too slow…) are retried with backoff.
    shouldRetry: (event) => closeCode(event) !== undefined && closeCode(event) !== FORBIDDEN,
  });

  function subscribe<Data, Extensions>(
    payload: SubscribePayload,
    sink: Sink<FormattedExecutionResult<Data, Extensions>>,
  ): () => void {
    let stopped = false;
    let stop = () => {};
    const start = () => {
      stop = client.subscribe<Data, Extensions>(payload, {
        next: (value) => sink.next(value),
        complete: () => sink.complete(),
        error: (error) => {
          if (closeCode(error) !== TOKEN_EXPIRED) return sink.error(error);
          tokens.refresh(url).then(
            (ok) => {
              if (stopped) return;
              if (ok) start();
              else sink.error(error); // signed out
            },
            (failed: unknown) => sink.error(failed),
          );
        },
      });
    };
    start();
    return () => {
      stopped = true;
      stop();
    };
  }
  // urql and Apollo call `subscribe`; `iterate` stays graphql-ws's own.
  return { ...client, subscribe };
}
