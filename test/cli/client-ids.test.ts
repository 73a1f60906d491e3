import { describe, expect, it } from 'vitest';

import { generateClientId } from '../../src/cli/commands/clients.js';

describe('generated client ids', () => {
  it('never start like a command-line option', () => {
    // One base64url id in 32 would start with "-" or "_", so 2,000 draws would all but surely show one.
    const ids = Array.from({ length: 2000 }, () => generateClientId());

    expect(ids.filter((id) => !/^[A-Za-z0-9]/.test(id))).toEqual([]);
    expect(ids.every((id) => /^[A-Za-z0-9_-]{22}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
