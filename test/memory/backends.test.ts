import { describe } from 'vitest';
import { needRedis } from '../helpers/services.js';
import { backendContract } from './backend-contract.js';
import { allKits, kitSkipped } from './helpers.js';

const redis = await needRedis();

for (const kit of allKits()) {
  describe.skipIf(kitSkipped(kit, redis))(`${kit.name} backend`, () => {
    backendContract(kit);
  });
}
