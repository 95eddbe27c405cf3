import { describe } from 'vitest';
import { backendContract } from './backend-contract.js';
import { allKits } from './helpers.js';

describe.each(allKits().map((kit) => [kit.name, kit] as const))('%s backend', (_name, kit) => {
  backendContract(kit);
});
