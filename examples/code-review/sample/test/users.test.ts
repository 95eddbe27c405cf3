import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { hashPassword, paginate } from '../src/users.js';

test('hashPassword is stable', () => {
  assert.equal(hashPassword('secret'), hashPassword('secret'));
});

test('paginate returns the first page', () => {
  assert.deepEqual(paginate([1, 2, 3, 4], 0, 2).length > 0, true);
});
