import { describe, expect, it } from 'vitest';

import { isBackendOutage } from '../../src/backends/outage.js';

/** Builds an error as node-postgres raises it for an ErrorResponse with the SQLSTATE `code`. */
function postgresError(code: string): Error {
  return Object.assign(new Error(`server error ${code}`), { code });
}

/** Builds an error reply as ioredis (5.x) raises it. */
function redisReply(message: string): Error {
  return Object.assign(new Error(message), { name: 'ReplyError' });
}

describe('backend outage classification', () => {
  it.each([
    ['08006', 'connection failure', true],
    ['53300', 'too many connections', true],
    ['53100', 'disk full', true],
    ['57P03', 'server starting up', true],
    ['25006', 'write on a read-only standby', true],
    ['23505', 'unique violation', false],
    ['22P02', 'invalid text representation', false],
    ['40001', 'serialization failure', false],
    ['42P01', 'undefined table', false],
  ])('classifies SQLSTATE %s (%s)', (code, _name, outage) => {
    expect(isBackendOutage(postgresError(code))).toBe(outage);
  });

  it('counts Redis replies that pass as an outage', () => {
    expect(isBackendOutage(redisReply('LOADING Redis is loading the dataset in memory'))).toBe(true);
    expect(isBackendOutage(redisReply("READONLY You can't write against a read only replica."))).toBe(true);
    expect(isBackendOutage(new Error('request failed', { cause: redisReply('CLUSTERDOWN The cluster is down') }))).toBe(true);
  });

  it('counts Redis maxclients as outage', () => {
    expect(isBackendOutage(redisReply('ERR max number of clients reached'))).toBe(true);
  });

  it('counts other Redis replies as a fault', () => {
    expect(isBackendOutage(redisReply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(false);
    expect(isBackendOutage(redisReply('ERR unknown command'))).toBe(false);
    // The code must start the message of a ReplyError.
    expect(isBackendOutage(new Error('LOADING Redis is loading the dataset in memory'))).toBe(false);
  });
});
