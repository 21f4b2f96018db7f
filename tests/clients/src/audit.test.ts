// The GraphQL over HTTP audit of graphql-http (the spec's reference
// implementation) against the real server: every MUST and every SHOULD
// passes, and the only MAYs left unmet are the GET ones the contract rules out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { type AuditResult, auditServer } from 'graphql-http';

import { type Server, startServer } from './server.js';

/**
 * MAYs we do not meet, by audit id, and why. GET /graphql serves the
 * GraphiQL page and never executes an operation (the contract: no link or
 * image tag may run a mutation), so the audits that expect a GraphQL answer
 * to a GET get the page instead.
 */
const UNMET_MAYS: Record<string, string> = {
  '9C48': 'a mutation over GET never runs, but the answer is the GraphiQL page (200), not a 4xx',
  D6D5: 'GET never executes: the answer is the GraphiQL page, not a GraphQL response',
  '6A70': 'GET never executes: the answer is the GraphiQL page, not a GraphQL response',
};

let server: Server;
let results: AuditResult[];
before(async () => {
  server = await startServer();
  results = await auditServer({ url: server.url });
});
after(() => server.stop());

/** The audits of one requirement level (MUST, SHOULD, MAY). */
function level(name: 'MUST' | 'SHOULD' | 'MAY'): AuditResult[] {
  return results.filter((r) => r.name.startsWith(`${name} `));
}

/** The failed ones, one line each: id, name and the audit's reason. */
function failures(audits: AuditResult[]): string[] {
  return audits.flatMap((r) => (r.status === 'ok' ? [] : [`${r.id} ${r.name}: ${r.reason}`]));
}

test('every MUST of the GraphQL over HTTP audit passes', () => {
  assert.ok(level('MUST').length > 0, 'the audit ran its MUSTs');
  const failing = failures(level('MUST'));
  assert.equal(failing.length, 0, `failing MUSTs:\n${failing.join('\n')}`);
});

test('every SHOULD of the GraphQL over HTTP audit passes', () => {
  assert.ok(level('SHOULD').length > 0, 'the audit ran its SHOULDs');
  const failing = failures(level('SHOULD'));
  assert.equal(failing.length, 0, `failing SHOULDs:\n${failing.join('\n')}`);
});

test('the MAYs left unmet are the GET ones, and only those', () => {
  const unmet = level('MAY').filter((r) => r.status !== 'ok');
  assert.deepEqual(
    unmet.map((r) => r.id).sort(),
    Object.keys(UNMET_MAYS).sort(),
    `unmet MAYs:\n${failures(unmet).join('\n')}\nlisted: ${Object.keys(UNMET_MAYS).join(', ')}`,
  );
});
