import { describe, expect, it } from 'vitest';

import type { LimitRule, UpstreamConfig } from '../../src/config/schema.js';
import { checkLimitTargets } from '../../src/gateway/gateway.js';
import { UpstreamPolicyError, upstreamRoutes } from '../../src/gateway/upstream-routes.js';
import type { RoutePolicy } from '../../src/gateway/route-policy.js';
import { writeConfigFile } from '../support/config-file.js';

const SECURED = [{ bearer: ['things:read'] }];

async function thingRoutes(): Promise<RoutePolicy[]> {
  const openapi = await writeConfigFile({
    openapi: '3.1.0',
    info: { title: 'fixture', version: '1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths: {
      '/things': { post: { security: SECURED, responses: {} } },
      '/things/{id}': {
        get: { security: SECURED, parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: {} },
      },
    },
  });
  const config: UpstreamConfig = {
    name: 'things',
    url: 'http://127.0.0.1:1',
    mountPath: '/things',
    openapi,
    routes: [],
    operations: {},
    identityAssertion: true,
    dropRequestHeaders: [],
  };
  return upstreamRoutes(config);
}

function rule(name: string, limit: number, period: string, key: LimitRule['key'] = ['sub']): LimitRule {
  return { name, key, limit, period, onStoreFailure: 'open' };
}

/** Returns the fixture's operations with `changes` applied to each, such as making them public. */
async function thingRoutesWith(changes: Partial<RoutePolicy>): Promise<RoutePolicy[]> {
  return (await thingRoutes()).map((policy) => ({ ...policy, ...changes }));
}

describe('checkLimitTargets', () => {
  it('accepts distinct names on one operation', async () => {
    const routes = await thingRoutes();
    const limits = {
      routes: [{ method: 'GET' as const, path: '/things/:id', limits: [rule('reads', 20, '1s'), rule('reads-daily', 1000, '1d')] }],
      flows: [{ ...rule('creation', 5, '1h'), method: 'POST' as const, path: '/things' }],
    };

    expect(() => checkLimitTargets(routes, limits)).not.toThrow();
  });

  it('accepts one name on two operations', async () => {
    const routes = await thingRoutes();
    const limits = {
      routes: [
        { method: 'GET' as const, path: '/things/:id', limits: [rule('per-user', 20, '1s')] },
        { method: 'POST' as const, path: '/things', limits: [rule('per-user', 20, '1s')] },
      ],
      flows: [],
    };

    expect(() => checkLimitTargets(routes, limits)).not.toThrow();
  });

  it('rejects one name twice in a route', async () => {
    const routes = await thingRoutes();
    const limits = {
      routes: [{ method: 'GET' as const, path: '/things/:id', limits: [rule('reads', 20, '1s'), rule('reads', 1000, '1d')] }],
      flows: [],
    };

    expect(() => checkLimitTargets(routes, limits)).toThrow(UpstreamPolicyError);
    expect(() => checkLimitTargets(routes, limits)).toThrow("two limits of GET /things/:id are named 'reads'");
  });

  it('rejects one name on both spellings', async () => {
    const routes = await thingRoutes();
    const limits = {
      routes: [
        { method: 'GET' as const, path: '/things/:id', limits: [rule('reads', 20, '1s')] },
        { method: 'GET' as const, path: '/things/{id}', limits: [rule('reads', 1000, '1d')] },
      ],
      flows: [],
    };

    expect(() => checkLimitTargets(routes, limits)).toThrow("two limits of GET /things/:id are named 'reads'");
  });

  it('rejects a route limit named like a quota', async () => {
    const routes = await thingRoutes();
    const limits = {
      routes: [{ method: 'POST' as const, path: '/things', limits: [rule('creation', 20, '1s')] }],
      flows: [{ ...rule('creation', 5, '1h'), method: 'POST' as const, path: '/things' }],
    };

    expect(() => checkLimitTargets(routes, limits)).toThrow("two limits of POST /things are named 'creation'");
  });

  it('rejects a user limit on a public operation', async () => {
    const routes = await thingRoutesWith({ public: true, credentials: [] });
    const limits = { routes: [{ method: 'GET' as const, path: '/things/:id', limits: [rule('reads', 20, '1s')] }], flows: [] };

    expect(() => checkLimitTargets(routes, limits)).toThrow(UpstreamPolicyError);
    expect(() => checkLimitTargets(routes, limits)).toThrow(
      "rateLimit/routes/0/limits/0: the limit 'reads' is keyed by sub, which no request of GET /things/:id has, so the limit would never apply. " +
        'Key it by parts that these requests have: ip.',
    );
  });

  it('rejects a key quota on token operations', async () => {
    const routes = await thingRoutes();
    const limits = { routes: [], flows: [{ ...rule('creation', 5, '1h', ['api_key']), method: 'POST' as const, path: '/things' }] };

    expect(() => checkLimitTargets(routes, limits)).toThrow("rateLimit/flows/0: the limit 'creation' is keyed by api_key, which no request of POST /things has");
  });

  it('rejects client and key together', async () => {
    const routes = await thingRoutesWith({ credentials: ['jwt', 'api_key'] });
    const limits = { routes: [{ method: 'GET' as const, path: '/things/:id', limits: [rule('reads', 20, '1s', ['client_id', 'api_key'])] }], flows: [] };

    expect(() => checkLimitTargets(routes, limits)).toThrow("the limit 'reads' is keyed by client_id and api_key, which no request of GET /things/:id has");
  });

  it('accepts keys some credential carries', async () => {
    const routes = await thingRoutesWith({ credentials: ['jwt', 'api_key'] });
    const limits = {
      routes: [{ method: 'GET' as const, path: '/things/:id', limits: [rule('per-client', 20, '1s', ['client_id']), rule('per-key', 20, '1s', ['api_key', 'ip'])] }],
      flows: [{ ...rule('creation', 5, '1h', ['ip']), method: 'POST' as const, path: '/things' }],
    };

    expect(() => checkLimitTargets(routes, limits)).not.toThrow();
  });
});
