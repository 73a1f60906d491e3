import type { FastifyInstance } from 'fastify';

export const DEMO_CALLBACK_PATH = '/demo/callback';

/**
 * The shape of the error codes that RFC 6749 and OpenID Connect register,
 * such as `access_denied`. Anyone can link to the page with any `error`,
 * and other text would read as a message from this origin, so it is never
 * shown.
 */
const ERROR_CODE = /^[a-z_]{1,64}$/;

function describeOutcome(error: unknown): string {
  if (error === undefined) {
    return 'The authorization server issued an authorization code.';
  }
  if (typeof error === 'string' && ERROR_CODE.test(error)) {
    return `The authorization server returned the error '${error}'.`;
  }
  return 'The authorization server returned an error.';
}

/**
 * Serves the redirect URI of the demo client, so that a person who runs the
 * flow in a browser lands on a page instead of a 404. The page never shows or
 * stores the authorization code, because the demo script reads the code from
 * the redirect itself.
 */
export async function demoCallback(app: FastifyInstance): Promise<void> {
  app.get(DEMO_CALLBACK_PATH, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const outcome = describeOutcome(query['error']);

    return reply
      .header('cache-control', 'no-store')
      .type('text/plain; charset=utf-8')
      .send(`${outcome}\nThis is the demo client's redirect URI; a real client now exchanges the code at the token endpoint.\n`);
  });
}
