import type { FastifyInstance } from 'fastify';

export const DEMO_CALLBACK_PATH = '/demo/callback';

/**
 * Serves the redirect URI of the demo client, so that a person who runs the
 * flow in a browser lands on a page instead of a 404. The page never shows or
 * stores the authorization code, because the demo script reads the code from
 * the redirect itself.
 */
export async function demoCallback(app: FastifyInstance): Promise<void> {
  app.get(DEMO_CALLBACK_PATH, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const outcome =
      typeof query['error'] === 'string'
        ? `The authorization server returned the error '${query['error']}'.`
        : 'The authorization server issued an authorization code.';

    return reply
      .header('cache-control', 'no-store')
      .type('text/plain; charset=utf-8')
      .send(`${outcome}\nThis is the demo client's redirect URI; a real client now exchanges the code at the token endpoint.\n`);
  });
}
