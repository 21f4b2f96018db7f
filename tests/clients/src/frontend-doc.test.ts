// docs/frontend.md shows urql.ts and apollo.ts whole; this fails when the
// two part ways, so the documented wiring is the tested one.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const readme = readFileSync('../../docs/frontend.md', 'utf8');

for (const file of ['urql.ts', 'apollo.ts']) {
  test(`docs/frontend.md shows src/${file} as it is`, () => {
    const source = readFileSync(`src/${file}`, 'utf8');
    const heading = readme.indexOf(`\`tests/clients/src/${file}\`:`);
    assert.ok(heading >= 0, `docs/frontend.md names tests/clients/src/${file}`);
    const open = readme.indexOf('```ts\n', heading) + '```ts\n'.length;
    const close = readme.indexOf('```\n', open);
    assert.equal(readme.slice(open, close), source);
  });
}
