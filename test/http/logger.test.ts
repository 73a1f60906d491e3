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

  it('drop command arguments of errors in a list', () => {
    // ioredis rejects an aborted MULTI with EXECABORT and lists the replies to the queued commands in previousErrors.
    const aborted = Object.assign(new Error('EXECABORT Transaction discarded because of previous errors.'), {
      name: 'ReplyError',
      previousErrors: [replyError('oidc:AccessToken:queued-token-value'), 'not an error'],
    });
    const line = logged({ err: aborted });

    expect(JSON.stringify(line)).not.toContain('queued-token-value');
    expect(line['err']).toMatchObject({ previousErrors: [{ type: 'Error', command: { name: 'hgetall' } }, 'not an error'] });
    expect((aborted.previousErrors[0] as unknown as { command: { args: string[] } }).command.args).toEqual(['oidc:AccessToken:queued-token-value']);
  });

  it('mark an error that lists itself', () => {
    const error = Object.assign(new Error('EXECABORT'), { previousErrors: [] as unknown[] });
    error.previousErrors.push(error);

    expect(logged({ err: error })['err']).toMatchObject({ message: 'EXECABORT', previousErrors: ['[Circular]'] });
  });

  it('pass values that are not errors through', () => {
    expect(logged({ err: 'thrown text' })['err']).toBe('thrown text');
    expect(logged({ err: { code: 'E_THROWN' } })['err']).toEqual({ code: 'E_THROWN' });
    expect(logged({ err: null })['err']).toBeNull();
  });
});
