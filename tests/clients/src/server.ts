// Starts the real binary (the dev build of CARGO_TARGET_DIR, else of
// target/, unless SNS_API_BIN names another) on a random port with a fresh
// SQLite file and media folder, JSON logs captured, and stops it after the
// test.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

// A relative CARGO_TARGET_DIR is taken from where cargo ran: the workspace
// root (`cargo build && cd tests/clients && npm test`).
export const BINARY = resolve(
  process.env['SNS_API_BIN'] ??
    resolve('../..', process.env['CARGO_TARGET_DIR'] || 'target', 'debug/sns-api'),
);

export interface Server {
  /** http://127.0.0.1:PORT/graphql */
  url: string;
  origin: string;
  /** The folder of its media store (MEDIA_STORE=file://FOLDER). */
  media: string;
  /** Every log line so far, parsed (LOG_FORMAT=json). */
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function startServer(env: Record<string, string> = {}): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'sns-clients-'));
  // Uploads land in the temp dir, never in the repository's sns-media.
  const store = env['MEDIA_STORE'] ?? `file://${dir}/media`;
  const child: ChildProcess = spawn(BINARY, ['serve'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      BIND_ADDR: '127.0.0.1:0',
      DATABASE_URL: `sqlite://${dir}/sns.db?mode=rwc`,
      MEDIA_STORE: store,
      JWT_SECRET: 'client-tests-secret-0123456789-abcdefghijkl',
      LOG_FORMAT: 'json',
      RUST_LOG: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((done) => child.once('exit', done));

  const addr = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error('server did not start in 20 s')), 20_000);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          entry = { raw: line };
        }
        logs.push(entry);
        if (typeof entry['addr'] === 'string' && String(entry['message']).startsWith('listening')) {
          clearTimeout(timer);
          done(entry['addr']);
        }
      });
    }
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`server exited with ${code}: ${JSON.stringify(logs)}`));
    });
  });

  const origin = `http://${addr}`;
  return {
    url: `${origin}/graphql`,
    origin,
    media: store.replace(/^file:\/\//, ''),
    logs,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One operation over plain fetch, for checks that must not go through a client. */
export async function post(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<{ data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers['authorization'] = `Bearer ${token}`;
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as never;
}

/** Sleeps until an access token issued with ACCESS_TOKEN_TTL=1s is refused (past the 10 s leeway). */
export async function waitForExpiry(url: string, token: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  await new Promise((r) => setTimeout(r, 11_000));
  for (;;) {
    const body = await post(url, '{ me { id } }', {}, token);
    if (body.errors?.some((e) => e.extensions?.['code'] === 'UNAUTHENTICATED')) return;
    if (Date.now() > deadline) throw new Error('the access token never expired');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A sample's value on /metrics (0 when not yet recorded). */
export async function metric(origin: string, sample: string): Promise<number> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/**
 * A port free on 127.0.0.1 right now, for a server that must know its own
 * origin before it starts (BIND_ADDR and CORS_ORIGINS).
 */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => done(port));
    });
  });
}
