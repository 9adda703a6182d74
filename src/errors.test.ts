import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as errors from './errors.js';

test('every error class has its own stable code and keeps the file, option and cause it is given', () => {
  const classes = Object.values(errors).filter(
    (v): v is typeof errors.GoogLeNetError => typeof v === 'function' && v.prototype instanceof Error,
  );
  const codes = new Map<string, string>();
  for (const C of classes) {
    const e = new C('m', { file: 'f.pth', option: '--lr', cause: 'why' });
    assert.ok(e instanceof errors.GoogLeNetError, C.name);
    assert.equal(e.name, C.name);
    assert.equal(e.message, 'm');
    assert.deepEqual([e.file, e.option, e.cause], ['f.pth', '--lr', 'why']);
    if (C !== errors.GoogLeNetError && C !== errors.InternalError) {
      assert.ok(!codes.has(e.code), `${C.name} and ${codes.get(e.code)} share the code ${e.code}`);
      codes.set(e.code, C.name);
    }
  }
  assert.equal(new errors.CheckpointWriteError('x').code, 'CHECKPOINT_WRITE');
  assert.ok(new errors.CheckpointWriteError('x') instanceof errors.FileWriteError);
  assert.equal(new errors.InternalError('x').code, 'INTERNAL');
  assert.equal(new errors.OptionError('x', { option: 'x' }).file, undefined);
});
