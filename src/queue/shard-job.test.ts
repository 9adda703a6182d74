import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setLimits } from '../limits.js';
import { entryProblem, jobJsonProblem, runNameProblem, shardDataProblem, shardFileName } from './shard-job.js';

const RULE = 'a run name is 1 to 64 letters, digits, "_", "-" and "." (not first), received';

test('run names: letters, digits, _ - . up to 64, never . or .., no separators, # or :', () => {
  for (const ok of ['run1', 'a', '2024-05-01_photos.v2', '_x', '-x', 'x..y', 'r'.repeat(64)])
    assert.equal(runNameProblem(ok), undefined, ok);
  const bad: [unknown, string][] = [
    ['.', '"."'],
    ['..', '".."'],
    ['.hidden', '".hidden"'],
    ['a/b', '"a/b"'],
    ['..\\x', '"..\\\\x"'],
    ['', '""'],
    ['r'.repeat(65), `"${'r'.repeat(65)}"`],
    ['a#1', '"a#1"'],
    ['a:b', '"a:b"'],
    ['a b', '"a b"'],
    ['é', '"é"'],
    [42, '42'],
    [null, 'null'],
    [['..'], 'a list of 1 entries'],
  ];
  for (const [name, shown] of bad) assert.equal(runNameProblem(name), `${RULE} ${shown}`, String(name));
});

test('files and out: absolute paths or http(s) URLs, bounded, no NUL', () => {
  assert.equal(entryProblem('/data/a.jpg'), undefined);
  assert.equal(entryProblem('C:\\data\\a.jpg'), undefined);
  assert.equal(entryProblem('https://example.com/a.jpg'), undefined);
  assert.equal(entryProblem('a.jpg'), 'not an absolute path or an http(s) URL: "a.jpg"');
  assert.equal(entryProblem('../a.jpg'), 'not an absolute path or an http(s) URL: "../a.jpg"');
  assert.equal(entryProblem('http://[nope'), 'not a valid URL "http://[nope"');
  assert.equal(entryProblem('/a\0b'), '"/a\\u0000b" holds a NUL character');
  assert.match(entryProblem('/' + 'a'.repeat(4096))!, /^"\/a{75}… is 4,097 characters, more than 4096$/);
  assert.equal(entryProblem('https://example.com/x', { url: false }), 'not an absolute path: "https://example.com/x"');
  assert.equal(shardFileName(42), 'shard-000042.jsonl');
});

test('shard jobs: exactly { run, shard, files, out } as submit writes them, else the first problem', () => {
  const good = { run: 'r', shard: 3, files: ['/p/a.png', 'http://h/b.jpg'], out: '/results' };
  assert.equal(shardDataProblem(good, 'r#3'), undefined);
  const cases: [unknown, string][] = [
    [null, 'expected an object { run, shard, files, out }, received null'],
    ['{"run":"r"}', 'expected an object { run, shard, files, out }, received "{\\"run\\":\\"r\\"}"'],
    [[good], 'expected an object { run, shard, files, out }, received a list of 1 entries'],
    [{ ...good, extra: 1 }, 'unknown key "extra" (a shard job has run, shard, files, out)'],
    [{ ...good, run: '..' }, `run: ${RULE} ".."`],
    [{ files: 'not-a-list', shard: 'NaN', out: 42, run: 'r' }, 'shard: expected a non-negative integer, received "NaN"'],
    [{ ...good, shard: -1 }, 'shard: expected a non-negative integer, received -1'],
    [{ ...good, shard: 1.5 }, 'shard: expected a non-negative integer, received 1.5'],
    [{ ...good, shard: 2 ** 53 }, 'shard: expected a non-negative integer, received 9007199254740992'],
    [{ ...good, files: 'not-a-list' }, 'files: expected a list of paths and URLs, received "not-a-list"'],
    [{ ...good, files: [] }, 'files: the list is empty'],
    [{ ...good, files: ['/a', 7] }, 'files[1]: expected a string, received 7'],
    [{ ...good, files: ['/a', { path: '/b' }] }, 'files[1]: expected a string, received an object'],
    [{ ...good, files: ['relative.png'] }, 'files[0]: not an absolute path or an http(s) URL: "relative.png"'],
    [{ ...good, out: 42 }, 'out: expected an absolute folder path, received 42'],
    [{ ...good, out: 'results' }, 'out: not an absolute path: "results"'],
    [{ ...good, out: 'http://h/x' }, 'out: not an absolute path: "http://h/x"'],
  ];
  for (const [data, why] of cases) assert.equal(shardDataProblem(data, 'r#3'), why, JSON.stringify(data));
  assert.equal(shardDataProblem(good, 'r#4'), 'the job id "r#4" is not its run and shard, "r#3"');
  assert.equal(shardDataProblem(good, undefined), 'the job id undefined is not its run and shard, "r#3"');
});

test('sizes: a shard past maxShardFiles and job data past maxJsonBytes are refused, naming the limit', () => {
  const before = setLimits({ maxShardFiles: 3, maxJsonBytes: 10 });
  try {
    const data = { run: 'r', shard: 0, files: ['/a', '/b', '/c', '/d'], out: '/o' };
    assert.equal(
      shardDataProblem(data, 'r#0'),
      'files: 4 entries is more than the limit maxShardFiles is 3; raise it with GOOGLENET_MAX_SHARD_FILES=N or setLimits({ maxShardFiles: N })',
    );
    assert.equal(shardDataProblem({ ...data, files: data.files.slice(0, 3) }, 'r#0'), undefined);
    assert.equal(jobJsonProblem('0123456789'), undefined);
    assert.match(
      jobJsonProblem('01234567890')!,
      /^job data of 11 characters is more than the limit maxJsonBytes is 10; raise it with GOOGLENET_MAX_JSON_BYTES/,
    );
  } finally {
    setLimits(before);
  }
});
