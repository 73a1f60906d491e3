import type { FastifyInstance } from 'fastify';

import { ProblemError } from '../core/problem.js';

export const DEMO_CALLBACK_PATH = '/demo/callback';

/**
 * Error codes of RFC 6749 and its extensions are lowercase words joined by
 * underscores. The page quotes only such a code, because anyone can link to
 * it with any text, which would then read as a message from this server.
 */
const OAUTH_ERROR_CODE = /^[a-z_]{1,64}$/;

/** Returns the single value of a query parameter, or undefined when it is absent. */
function singleValue(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined || typeof value === 'string') {
    return value;
  }
  throw new ProblemError('invalid_request', `The query parameter '${name}' is repeated, but an authorization response sends it once.`);
}

/** Returns the first line of the page: what the authorization response carries. */
function describeOutcome(query: Record<string, unknown>): string {
  const error = singleValue(query, 'error');
  const code = singleValue(query, 'code');

  if (error !== undefined) {
    if (!OAUTH_ERROR_CODE.test(error)) {
      throw new ProblemError('invalid_request', "The query parameter 'error' is not an OAuth error code, which consists of lowercase letters and underscores.");
    }
    return `The authorization server returned the error '${error}'.`;
  }
  if (code === undefined || code === '') {
    throw new ProblemError('invalid_request', "The request has neither a 'code' nor an 'error' query parameter, so it is not an authorization response.");
  }
  return 'The authorization server issued an authorization code.';
}

/**
 * Serves the redirect URI of the demo client, so that a person who runs the
 * flow in a browser lands on a page instead of a 404. The page never shows or
 * stores the authorization code, because the demo script reads the code from
 * the redirect itself.
 */
export async function demoCallback(app: FastifyInstance): Promise<void> {
  app.get(DEMO_CALLBACK_PATH, async (request, reply) => {
    const outcome = describeOutcome(request.query as Record<string, unknown>);

    return reply
      .header('cache-control', 'no-store')
      .type('text/plain; charset=utf-8')
      .send(`${outcome}\nThis is the demo client's redirect URI; a real client now exchanges the code at the token endpoint.\n`);
  });
}
