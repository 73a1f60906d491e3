import type { FastifyInstance, FastifyRequest } from 'fastify';

import { auditRequest } from '../audit/request-events.js';
import { ApiKeyLimitError, ApiKeyOwnerInactiveError, ApiKeyRequestError, type ApiKeyService } from '../api-keys/api-key-service.js';
import { parseDuration } from '../core/duration.js';
import { nonUtf8Charset, parseJsonBody } from '../core/openapi/json-body.js';
import type { Identity } from '../core/identity-headers.js';
import { ProblemError } from '../core/problem.js';
import type { Account } from '../store/account-repository.js';
import { authenticate, type AuthenticationDependencies } from './authenticate.js';

export interface ApiKeyRoutesOptions {
  authentication: AuthenticationDependencies;
  apiKeys: ApiKeyService;
  findAccount: (id: string) => Promise<Account | undefined>;
  /** How long a rotated key keeps working, in seconds. */
  defaultGraceSeconds: number;
  /**
   * Maximum number of active keys a user may hold when creating another. A
   * rotation may go one over it while the old key is in its grace period.
   */
  maxActiveKeysPerOwner: number;
}

/** The routes of the API key management, relative to the mount path, in Fastify syntax. */
export const API_KEY_ROUTES = {
  list: { method: 'GET', url: '/keys' },
  create: { method: 'POST', url: '/keys' },
  rotate: { method: 'POST', url: '/keys/:id/rotate' },
  revoke: { method: 'DELETE', url: '/keys/:id' },
} as const;

const createBody = {
  type: 'object',
  required: ['name', 'scopes'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100 },
    scopes: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'string', maxLength: 64 } },
    allowed_cidrs: { type: 'array', maxItems: 20, items: { type: 'string', maxLength: 64 } },
    expires_in: { type: 'string', pattern: '^[1-9][0-9]{0,8}(s|m|h|d)$' },
    environment: { enum: ['live', 'test'] },
  },
} as const;

const rotateBody = {
  type: 'object',
  additionalProperties: false,
  properties: { grace: { type: 'string', pattern: '^(0|[1-9][0-9]{0,8}(s|m|h|d))$' } },
} as const;

/** No route here takes query parameters, so an unknown one gets 400 instead of being ignored. */
const noQuery = { type: 'object', additionalProperties: false, properties: {} } as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9A-Za-z]{12}$' } },
} as const;

interface CreateBody {
  name: string;
  scopes: string[];
  allowed_cidrs?: string[];
  expires_in?: string;
  environment?: 'live' | 'test';
}

/**
 * Records a rotation or revocation that found no active key of the caller,
 * such as an attempt on another user's key, and returns the 404 for it. A
 * 404 records no event of its own.
 */
function keyNotFound(request: FastifyRequest, type: 'api_key.rotated' | 'api_key.revoked', id: string): ProblemError {
  const detail = `No active API key with id '${id}' belongs to you.`;
  auditRequest(request, { type, outcome: 'failure', keyId: id, reason: 'not_found', detail });
  return new ProblemError('not_found', detail);
}

/**
 * Parses a JSON body of the key routes, which must be UTF-8 and may not
 * repeat a member name in one object, as for the gateway's validated
 * operations. Raises ProblemError for any other body.
 */
function parseKeyRequestBody(contentType: string, body: Buffer): unknown {
  const charset = nonUtf8Charset(contentType);
  if (charset !== undefined) {
    throw new ProblemError('unsupported_media_type', `The charset of a JSON body must be utf-8, not '${charset}'.`);
  }
  if (body.length === 0) {
    throw new ProblemError('invalid_json', 'The request body is empty but its Content-Type is application/json.');
  }

  const parsed = parseJsonBody(body);
  if (!parsed.ok) {
    throw new ProblemError('invalid_json', parsed.detail);
  }
  return parsed.value;
}

/**
 * Registers `/keys`, where users manage their own API keys with an OAuth
 * access token. An API key cannot manage keys, so a leaked key cannot mint
 * or extend others.
 */
export async function apiKeyRoutes(app: FastifyInstance, options: ApiKeyRoutesOptions): Promise<void> {
  // These routes are served by the gateway itself, so they parse JSON
  // instead of relaying raw bytes as the proxied routes do. They take JSON
  // bodies on the same terms as those routes, so a proxy or firewall in
  // front reads the same fields as these routes do.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      done(null, parseKeyRequestBody(request.headers['content-type'] ?? '', body as Buffer));
    } catch (error) {
      done(error as Error);
    }
  });

  app.addHook('onRequest', async (request) => {
    request.identity = await authenticate(request, options.authentication, ['jwt']);
  });

  async function owner(request: FastifyRequest): Promise<{ identity: Identity; account: Account }> {
    const identity = request.identity as Identity;
    const account = identity.subject === identity.clientId ? undefined : await options.findAccount(identity.subject);
    if (account === undefined) {
      throw new ProblemError('forbidden', 'API keys belong to user accounts; this token does not represent a user.');
    }
    return { identity, account };
  }

  app.get(API_KEY_ROUTES.list.url, { schema: { querystring: noQuery } }, async (request) => {
    const { account } = await owner(request);
    return { items: await options.apiKeys.list(account.id) };
  });

  app.post<{ Body: CreateBody }>(API_KEY_ROUTES.create.url, { schema: { querystring: noQuery, body: createBody } }, async (request, reply) => {
    const { identity, account } = await owner(request);
    const body = request.body;

    try {
      const created = await options.apiKeys.create(account, {
        name: body.name,
        scopes: body.scopes,
        allowedCidrs: body.allowed_cidrs ?? [],
        ...(body.expires_in === undefined ? {} : { expiresInSeconds: parseDuration(body.expires_in) / 1000 }),
        environment: body.environment ?? 'live',
        ceiling: identity.scopes,
        clientId: identity.clientId,
        maxActiveKeys: options.maxActiveKeysPerOwner,
      });
      request.log.info({ keyId: created.summary.id, ownerId: account.id }, 'API key created');
      auditRequest(request, { type: 'api_key.created', outcome: 'success', keyId: created.summary.id });
      return reply.code(201).header('cache-control', 'no-store').send({ key: created.value, ...created.summary });
    } catch (error) {
      if (error instanceof ApiKeyLimitError) {
        throw new ProblemError('conflict', `You have ${error.limit} active API keys, the maximum. Revoke a key you no longer use, then create the new one.`);
      }
      if (error instanceof ApiKeyOwnerInactiveError) {
        throw new ProblemError('forbidden', 'Your account is disabled or removed, so it cannot get new API keys.');
      }
      if (error instanceof ApiKeyRequestError) {
        throw new ProblemError('invalid_request', `The API key request is invalid: ${error.message}.`);
      }
      throw error;
    }
  });

  app.post<{ Params: { id: string }; Body: { grace?: string } }>(
    API_KEY_ROUTES.rotate.url,
    {
      schema: { querystring: noQuery, params: idParams, body: rotateBody },
      // Every field of the body is optional, so a rotation may come without
      // one. Fastify would validate the missing body as undefined and reject it.
      // A JSON `null` is a body, and validation rejects it like any non-object.
      preValidation: async (request) => {
        if (request.body === undefined) {
          request.body = {};
        }
      },
    },
    async (request, reply) => {
      const { identity, account } = await owner(request);
      const grace = request.body.grace;
      const graceSeconds = grace === undefined ? options.defaultGraceSeconds : grace === '0' ? 0 : parseDuration(grace) / 1000;

      let rotated: Awaited<ReturnType<ApiKeyService['rotate']>>;
      try {
        rotated = await options.apiKeys.rotate(request.params.id, graceSeconds, {
          owner: account,
          ceiling: identity.scopes,
          clientId: identity.clientId,
          maxActiveKeys: options.maxActiveKeysPerOwner,
        });
      } catch (error) {
        if (error instanceof ApiKeyLimitError) {
          throw new ProblemError(
            'conflict',
            `This rotation would leave you more than ${error.limit + 1} active API keys: the maximum of ${error.limit}, and one more ` +
              'while a rotated key is in its grace period. Revoke a key you no longer use or wait for the grace period to end, ' +
              'or rotate with a grace of 0.',
          );
        }
        if (error instanceof ApiKeyRequestError) {
          throw new ProblemError('invalid_request', `The rotation request is invalid: ${error.message}.`);
        }
        throw error;
      }
      if (rotated === undefined) {
        throw keyNotFound(request, 'api_key.rotated', request.params.id);
      }
      request.log.info({ keyId: request.params.id, successor: rotated.summary.id }, 'API key rotated');
      auditRequest(request, { type: 'api_key.rotated', outcome: 'success', keyId: request.params.id, detail: `successor ${rotated.summary.id}` });
      return reply.code(201).header('cache-control', 'no-store').send({ key: rotated.value, ...rotated.summary });
    },
  );

  app.delete<{ Params: { id: string } }>(API_KEY_ROUTES.revoke.url, { schema: { querystring: noQuery, params: idParams } }, async (request, reply) => {
    const { account } = await owner(request);
    if (!(await options.apiKeys.revoke(request.params.id, account.id))) {
      throw keyNotFound(request, 'api_key.revoked', request.params.id);
    }
    request.log.info({ keyId: request.params.id }, 'API key revoked');
    auditRequest(request, { type: 'api_key.revoked', outcome: 'success', keyId: request.params.id });
    return reply.code(204).send();
  });
}
