// The subscription socket from Node: a raw `ws` socket for frames that no
// well-behaved client sends, and the `graphql-ws` client itself (what urql
// and Apollo wire up) with a helper that waits for a subscription's first
// outcome.
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

export const PROTOCOL = 'graphql-transport-ws';

/** How long a test waits for a frame it expects. */
const WAIT_MS = 10_000;

export function wsUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws');
}

export interface Closed {
  code: number;
  reason: string;
}

export type Json = Record<string, unknown>;

/** A raw `graphql-transport-ws` socket: JSON messages in, close code out. */
export class RawSocket {
  private readonly queue: Json[] = [];
  private readonly waiting: Array<(m: Json) => void> = [];
  readonly closed: Promise<Closed>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData) => {
      const message = JSON.parse(data.toString()) as Json;
      const waiter = this.waiting.shift();
      if (waiter) waiter(message);
      else this.queue.push(message);
    });
    this.closed = new Promise((done) =>
      ws.once('close', (code: number, reason: Buffer) => done({ code, reason: reason.toString() })),
    );
  }

  /** Opens with `protocols` (ours by default) and `headers`. */
  static async open(
    url: string,
    options: { protocols?: string[]; origin?: string } = {},
  ): Promise<RawSocket> {
    const ws = new WebSocket(wsUrl(url), options.protocols ?? [PROTOCOL], {
      ...(options.origin ? { origin: options.origin } : {}),
    });
    await new Promise<void>((done, fail) => {
      ws.once('open', () => done());
      ws.once('error', fail);
    });
    return new RawSocket(ws);
  }

  /** The HTTP status and body an upgrade is refused with. */
  static async refusal(
    url: string,
    options: { protocols?: string[]; origin?: string } = {},
  ): Promise<{ status: number; body: Json }> {
    const ws = new WebSocket(wsUrl(url), options.protocols ?? [PROTOCOL], {
      ...(options.origin ? { origin: options.origin } : {}),
    });
    return new Promise((done, fail) => {
      ws.once('open', () => {
        ws.terminate();
        fail(new Error('the upgrade was accepted'));
      });
      ws.once('unexpected-response', (_request, response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => {
          ws.terminate();
          done({ status: response.statusCode ?? 0, body: JSON.parse(text) as Json });
        });
      });
      ws.once('error', () => {});
    });
  }

  send(message: Json | string | Buffer): void {
    this.ws.send(typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message));
  }

  /** The next message; fails after a while. */
  next(): Promise<Json> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((done, fail) => {
      const timer = setTimeout(() => fail(new Error('no message from the server')), WAIT_MS);
      this.waiting.push((m) => {
        clearTimeout(timer);
        done(m);
      });
    });
  }

  /** `connection_init` with `payload`; expects `connection_ack`. */
  async init(payload?: Json): Promise<void> {
    this.send(payload === undefined ? { type: 'connection_init' } : { type: 'connection_init', payload });
    const ack = await this.next();
    if (ack['type'] !== 'connection_ack') throw new Error(`expected connection_ack, got ${JSON.stringify(ack)}`);
  }

  subscribe(id: string, query: string, variables: Json = {}): void {
    this.send({ id, type: 'subscribe', payload: { query, variables } });
  }

  close(): void {
    this.ws.close();
  }
}

/** A `graphql-ws` client that never retries, so a close reaches the sink. */
export function client(url: string, token?: string): Client {
  return createClient({
    url: wsUrl(url),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    ...(token ? { connectionParams: { Authorization: `Bearer ${token}` } } : {}),
  });
}

/** What a subscription saw first. */
export type Outcome =
  | { kind: 'next'; value: Json }
  | { kind: 'error'; errors: Array<{ message: string; extensions?: Json }> }
  | { kind: 'closed'; code: number; reason: string }
  | { kind: 'complete' };

/** Subscribes; `first` resolves with the first outcome, `rest` with the end. */
export function subscribe(
  graphqlWs: Client,
  query: string,
  variables: Json = {},
): { first: Promise<Outcome>; end: Promise<Outcome>; stop: () => void } {
  let firstDone: (o: Outcome) => void = () => {};
  let endDone: (o: Outcome) => void = () => {};
  const first = new Promise<Outcome>((done) => (firstDone = done));
  const end = new Promise<Outcome>((done) => (endDone = done));
  const settle = (o: Outcome, last: boolean) => {
    firstDone(o);
    if (last) endDone(o);
  };
  const stop = graphqlWs.subscribe(
    { query, variables },
    {
      next: (value) => settle({ kind: 'next', value: value as Json }, false),
      error: (error: unknown) => {
        if (Array.isArray(error)) settle({ kind: 'error', errors: error }, true);
        else {
          const e = error as { code?: number; reason?: string };
          settle({ kind: 'closed', code: e.code ?? 0, reason: e.reason ?? String(error) }, true);
        }
      },
      complete: () => settle({ kind: 'complete' }, true),
    },
  );
  return { first, end, stop };
}

/** Resolves once the client's socket is acknowledged. */
export function connected(graphqlWs: Client): Promise<void> {
  return new Promise((done) => {
    const off = graphqlWs.on('connected', () => {
      off();
      done();
    });
  });
}
