import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { OptionError } from './errors.js';
import { resize } from './image/resize.js';
import { preprocess } from './infer/image.js';
import { DEFAULT_LIMITS, getLimits, limitEnvName, limitsFromEnv, setLimits } from './limits.js';
import { resolveConfig } from './models/config.js';
import { parseModelDirConfig } from './weights/model-dir.js';
import { parseSafetensors } from './weights/safetensors.js';

const img = { width: 4, height: 3, channels: 3 as const, data: new Uint8Array(36) };

test('limits: env names, overrides from the environment, setLimits returns the previous values', () => {
  assert.equal(limitEnvName('maxImagePixels'), 'GOOGLENET_MAX_IMAGE_PIXELS');
  assert.deepEqual(limitsFromEnv({ GOOGLENET_MAX_RESIZE: '8192', OTHER: '1' }), { maxResize: 8192 });
  assert.throws(() => limitsFromEnv({ GOOGLENET_MAX_RESIZE: '1e400' }), OptionError);
  assert.throws(() => setLimits({ maxResize: -1 }), /maxResize must be a positive integer/);
  assert.throws(() => setLimits({ nope: 1 } as never), /unknown limit "nope"/);
  const before = setLimits({ maxResize: 10 });
  assert.equal(getLimits().maxResize, 10);
  setLimits(before);
  assert.deepEqual(getLimits(), { ...DEFAULT_LIMITS });
});

test('limits are checked before allocating: resize 1e9, numClasses 1e9 (issue 12)', () => {
  assert.throws(
    () => preprocess(img, { resize: 1e9, crop: 2 }),
    /preprocess: resize 1000000000 is more than the limit maxResize is 4,096; raise it with GOOGLENET_MAX_RESIZE/,
  );
  assert.throws(() => resize(img, 100_000, 100_000), /resize: a 100000×100000 result is more pixels than the limit maxImagePixels/);
  assert.throws(() => resolveConfig({ numClasses: 1e9 }), /numClasses: 1000000000 classes is more than the limit maxNumClasses is 100,000/);
  const before = setLimits({ maxNumClasses: 2_000_000 });
  try {
    assert.equal(resolveConfig({ numClasses: 1_000_000 }).numClasses, 1_000_000);
  } finally {
    setLimits(before);
  }
});

test('JSON is refused past maxJsonBytes before it is parsed: a safetensors header, a config.json', () => {
  const before = setLimits({ maxJsonBytes: 100 });
  try {
    const header = new Uint8Array(8 + 200);
    new DataView(header.buffer).setBigUint64(0, 200n, true);
    assert.throws(
      () => parseSafetensors(header, 'x.safetensors'),
      /^WeightFormatError: x\.safetensors: header of 200 bytes is more than the limit maxJsonBytes is 100; raise it with GOOGLENET_MAX_JSON_BYTES/,
    );
    assert.throws(
      () => parseModelDirConfig(' '.repeat(101), 'config.json'),
      /^WeightFormatError: config\.json: 101 characters is more than the limit maxJsonBytes is 100/,
    );
  } finally {
    setLimits(before);
  }
});

test("the README's Limits table lists every limit with the variable that raises it", () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  for (const k of Object.keys(DEFAULT_LIMITS) as (keyof typeof DEFAULT_LIMITS)[]) {
    assert.match(readme, new RegExp(`^\\| \`${k}\` \\|.*\\| \`${limitEnvName(k)}\` \\|$`, 'm'), `README: a row for ${k}`);
  }
});
