import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';

import { auditProblem } from '../../src/audit/request-events.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { ProblemError } from '../../src/core/problem.js';

/** Returns a request without credential headers whose audit trail keeps what it records. */
function requestWithTrail(): { request: FastifyRequest; recorded: AuditEvent[] } {
  const recorded: AuditEvent[] = [];
  const request = {
    id: 'request-1',
    ip: '127.0.0.1',
    headers: {},
    rawHeaders: [],
    raw: { rawHeaders: [] },
    server: { audit: { record: (event: AuditEvent) => recorded.push(event) } },
  } as unknown as FastifyRequest;
  return { request, recorded };
}

describe('audit of credential problems', () => {
  it.each([
    ['a token operation', 'Bearer realm="portcullis", error="invalid_request", error_description="Credentials are not accepted in the query string"'],
    ['an API key operation', 'ApiKey realm="portcullis"'],
  ])('counts a query credential on %s', (_operation, challenge) => {
    const { request, recorded } = requestWithTrail();

    auditProblem(request, new ProblemError('invalid_request', 'Credentials are not accepted in the query string.', { headers: { 'www-authenticate': challenge } }));

    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ type: 'authentication.failed', outcome: 'failure', reason: 'malformed_credentials' });
  });

  it('counts a public query credential as rejected', () => {
    const { request, recorded } = requestWithTrail();

    auditProblem(request, new ProblemError('invalid_request', 'Credentials are not accepted in the query string.'));

    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ type: 'request.rejected', outcome: 'denied', reason: 'invalid_request' });
  });
});
