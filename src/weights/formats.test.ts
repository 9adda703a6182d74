import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectWeightFormat, loadStateDict } from './formats.js';
import { writeSafetensors } from './safetensors-node.js';

import { fixturePath, missingFixture } from '../../test/fixtures.js';
import { refuses } from '../../test/weights-helpers.js';

test('loadStateDict picks the format by content, not by extension', (t) => {
  const pth = fixturePath('googlenet-tv-noaux10.pth');
  const st = fixturePath('googlenet-tv-aux10.safetensors');
  if (!pth || !st) return t.skip(missingFixture(pth ? 'googlenet-tv-aux10.safetensors' : 'googlenet-tv-noaux10.pth'));
  assert.equal(loadStateDict(pth).size, 344);
  assert.equal(loadStateDict(st).size, 364);
  const dir = mkdtempSync(join(tmpdir(), 'formats-test-'));
  try {
    copyFileSync(pth, join(dir, 'weights.safetensors')); // a misnamed .pth still loads
    assert.equal(loadStateDict(join(dir, 'weights.safetensors')).size, 344);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadStateDict errors: missing, empty, truncated, unrecognized, legacy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'formats-test-'));
  try {
    const file = (name: string, bytes: Uint8Array): string => {
      writeFileSync(join(dir, name), bytes);
      return join(dir, name);
    };
    refuses(() => loadStateDict(join(dir, 'x.pth')), `${join(dir, 'x.pth')}: no such file`);
    refuses(() => loadStateDict(dir), `${dir}: is a directory, expected a weight file`);
    const empty = file('empty.pth', new Uint8Array(0));
    refuses(() => loadStateDict(empty), `${empty}: empty file (0 bytes), expected a .pth or .safetensors weight file`);
    const short = file('short.safetensors', Uint8Array.of(1, 2, 3));
    refuses(() => loadStateDict(short), `${short}: truncated (3 bytes): too short for a .pth or .safetensors weight file`);
    const png = file('img.pth', Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13));
    refuses(
      () => loadStateDict(png),
      `${png}: unrecognized weight format: expected a zip archive (PyTorch .pth) or a safetensors header, found bytes 89 50 4e 47 0d 0a 1a 0a`,
    );
    const legacy = file('old.pth', Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20));
    refuses(
      () => loadStateDict(legacy),
      `${legacy}: legacy torch.save format (torch < 1.6) is not supported: re-save it with a newer torch`,
    );
    const zipStub = file('stub.pth', Uint8Array.of(0x50, 0x4b, 0x03, 0x04, 0, 0));
    refuses(() => loadStateDict(zipStub), `${zipStub}: zip end-of-central-directory record not found (truncated or not a zip archive)`);
    const st = writeSafetensors({ w: { dtype: 'F32', dims: [1], data: Float32Array.of(1) } });
    const cut = file('cut.safetensors', st.subarray(0, st.length - 2));
    refuses(() => loadStateDict(cut), `${cut}: tensor "w" data_offsets [0, 4] lie outside the 2 data bytes`);
    assert.equal(detectWeightFormat(st), 'safetensors');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
