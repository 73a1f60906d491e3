import { describe, expect, it } from 'vitest';

import { textRow } from '../../src/cli/output.js';

describe('textRow', () => {
  it('joins fields with tabs', () => {
    expect(textRow(['id', 'active', 'name'])).toBe('id\tactive\tname');
  });

  it('escapes tabs and newlines inside fields', () => {
    const row = textRow(['id', 'name\tforged column\nforged line\u001b[2K']);
    expect(row).toBe('id\tname\\u0009forged column\\u000aforged line\\u001b[2K');
    expect(row.split('\t')).toHaveLength(2);
    expect(row).not.toContain('\n');
  });
});
