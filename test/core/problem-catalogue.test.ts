import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

import { PROBLEMS, ProblemError, internalErrorDocument, problemType, toProblemDocument } from '../../src/core/problem.js';

describe('problem catalogue', () => {
  it('documents every code with its status', async () => {
    const docs = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');

    for (const [code, kind] of Object.entries(PROBLEMS)) {
      expect(docs, code).toContain(`| \`${code}\` | ${kind.status} |`);
    }
  });

  it('builds stable type URIs', () => {
    expect(problemType('validation_failed')).toBe('urn:portcullis:problem:validation-failed');
  });

  it('keeps internals out of 500 documents', () => {
    const document = internalErrorDocument('request-1');
    expect(document).toEqual({
      type: 'urn:portcullis:problem:internal-error',
      title: 'Internal server error',
      status: 500,
      code: 'internal_error',
      detail: 'The server failed to process the request. Quote the request_id when reporting it.',
      request_id: 'request-1',
    });
  });

  it('omits empty field errors', () => {
    const document = toProblemDocument(new ProblemError('not_found', 'No such order.', { errors: [] }));
    expect(document.errors).toBeUndefined();
    expect(document.status).toBe(404);
  });
});
