// docs/frontend.md shows urql.ts and apollo.ts whole, and excerpts of other
// tested files; this fails when the page and the files part ways, so the
// documented wiring is the tested one.
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

// A block introduced by "from `tests/clients/src/FILE`:" (or "From") is a
// run of that file's lines, compared without their indentation.
const excerpts = [
  ...readme.matchAll(/[Ff]rom `tests\/clients\/src\/([\w.-]+)`:\n\n```\w+\n([\s\S]*?)```\n/g),
];
const lines = (text: string) => text.split('\n').map((l) => l.trim());

test('docs/frontend.md has its excerpts', () => {
  assert.deepEqual(
    excerpts.map((m) => m[1]),
    ['live.ts', 'apollo-live.test.ts', 'media-page.test.ts'],
  );
});

for (const [, file, block] of excerpts) {
  test(`docs/frontend.md quotes src/${file} as it is`, () => {
    const source = lines(readFileSync(`src/${file!}`, 'utf8'));
    const quoted = lines(block!.replace(/\n$/, ''));
    const at = source.findIndex((_, i) => quoted.every((l, j) => source[i + j] === l));
    assert.ok(at >= 0, `the excerpt of ${file} is a run of its lines:\n${block}`);
  });
}
