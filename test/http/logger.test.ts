import { describe, expect, it } from 'vitest';

import { createLogger } from '../../src/http/logger.js';

/** Logs `fields` at level error and returns the JSON line the logger wrote. */
function logged(fields: Record<string, unknown>): Record<string, unknown> {
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  logger.error(fields, 'failed');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] ?? '') as Record<string, unknown>;
}

/** Builds an error as ioredis (5.x) raises it for an error reply to a command. */
function replyError(key: string): Error {
  return Object.assign(new Error('LOADING Redis is loading the dataset in memory'), { name: 'ReplyError', command: { name: 'hgetall', args: [key] } });
}

describe('logged errors', () => {
  it('keep only the name of a Redis command', () => {
    const error = replyError('oidc:AccessToken:secret-token-value');
    const line = logged({ err: error });

    expect(JSON.stringify(line)).not.toContain('secret-token-value');
    expect(line['err']).toMatchObject({ type: 'Error', message: 'LOADING Redis is loading the dataset in memory', command: { name: 'hgetall' } });
    // The error itself keeps its command for the code that handles it.
    expect((error as unknown as { command: { args: string[] } }).command.args).toEqual(['oidc:AccessToken:secret-token-value']);
  });

  it('drop command arguments of nested errors', () => {
    const aggregate = new AggregateError([replyError('oidc:Session:first-session-id')], 'all nodes failed');
    const wrapper = Object.assign(new Error('cluster failed'), { lastNodeError: replyError('oidc:Session:second-session-id') });
    const line = JSON.stringify([logged({ err: aggregate }), logged({ err: wrapper })]);

    expect(line).not.toContain('first-session-id');
    expect(line).not.toContain('second-session-id');
    expect(line).toContain('"command":{"name":"hgetall"}');
  });

  it('pass values that are not errors through', () => {
    expect(logged({ err: 'thrown text' })['err']).toBe('thrown text');
    expect(logged({ err: { code: 'E_THROWN' } })['err']).toEqual({ code: 'E_THROWN' });
    expect(logged({ err: null })['err']).toBeNull();
  });
});
