import { describe, expect, it } from 'vitest';

import type { AuditRecord } from '../../src/audit/events.js';
import { describeAuditRecord } from '../../src/cli/commands/audit.js';

function record(fields: Partial<AuditRecord>): AuditRecord {
  return {
    id: '01900000-0000-7000-8000-000000000000',
    time: Date.UTC(2026, 0, 31, 12, 0, 0),
    type: 'rate_limit.exceeded',
    outcome: 'denied',
    actor: null,
    clientId: null,
    keyId: null,
    sourceAddress: '127.0.0.1',
    requestId: null,
    reason: 'client_authentication',
    detail: null,
    ...fields,
  };
}

describe('describeAuditRecord', () => {
  it('writes plain values bare', () => {
    const line = describeAuditRecord(record({ clientId: 'orders-cli' }));

    expect(line).toBe('2026-01-31T12:00:00.000Z\trate_limit.exceeded\tdenied\tclient=orders-cli address=127.0.0.1 reason=client_authentication');
  });

  it('quotes a client id that forges fields', () => {
    const line = describeAuditRecord(record({ clientId: 'x reason=ok address=192.0.2.1' }));
    const fields = line.split('\t')[3];

    expect(fields).toBe('client="x reason=ok address=192.0.2.1" address=127.0.0.1 reason=client_authentication');
  });

  it.each([
    ['a quote', 'x"y', 'client="x\\"y"'],
    ['a backslash', 'x\\y', 'client="x\\\\y"'],
    ['an equals sign', 'x=y', 'client="x=y"'],
    ['a tab', 'x\ty', 'client="x\\ty"'],
    ['a no-break space', 'x\u00a0y', 'client="x\u00a0y"'],
  ])('quotes a value with %s', (_label, clientId, expected) => {
    const line = describeAuditRecord(record({ clientId }));

    expect(line.split('\t')).toHaveLength(4);
    expect(line.split('\t')[3]?.startsWith(`${expected} `)).toBe(true);
  });

  it('escapes control characters in a quoted value', () => {
    const line = describeAuditRecord(record({ clientId: 'x \u001b[2Ky\u2028z' }));

    expect(line).not.toContain('\u001b');
    expect(line).not.toContain('\u2028');
    expect(line.split('\t')).toHaveLength(4);
  });
});
