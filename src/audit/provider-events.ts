import type { IncomingMessage } from 'node:http';

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

import type { AuditTrail } from './audit-trail.js';
import type { AuditEvent } from './events.js';

/** Fastify requests by their Node.js request, so events from oidc-provider can name the request id and client address. */
const requests = new WeakMap<IncomingMessage, FastifyRequest>();

/** Adds the hook that lets provider events find their Fastify request. */
export function trackOAuthRequests(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.url.startsWith('/oauth/')) {
      requests.set(request.raw, request);
    }
    done();
  });
}

/** oidc-provider's `error_detail` when a refresh token is presented a second time, in order or in a race. */
const REUSE_DETAILS = new Set(['refresh token already used', 'grant already used']);

/** Cause of a grant revocation, by the oidc-provider route that revoked it. */
const REVOCATION_CAUSES: Record<string, string> = {
  revocation: 'revocation_request',
  token: 'token_reuse',
  end_session: 'logout',
};

interface Entities {
  Account?: { accountId: string };
  RefreshToken?: { accountId?: string };
  AccessToken?: { accountId?: string };
  Session?: { accountId?: string };
}

function accountOf(ctx: KoaContextWithOIDC): string | undefined {
  const entities = ctx.oidc.entities as Entities;
  return entities.Account?.accountId ?? entities.RefreshToken?.accountId ?? entities.AccessToken?.accountId ?? entities.Session?.accountId;
}

function grantTypeOf(ctx: KoaContextWithOIDC): string | undefined {
  const value = ctx.oidc.params?.['grant_type'];
  return typeof value === 'string' ? value : undefined;
}

function recordFor(trail: AuditTrail, ctx: KoaContextWithOIDC, event: AuditEvent): void {
  const request = requests.get(ctx.req);
  const clientId = ctx.oidc.client?.clientId;
  trail.record({
    actor: accountOf(ctx) ?? (grantTypeOf(ctx) === 'client_credentials' ? clientId : undefined),
    clientId,
    requestId: request?.id,
    sourceAddress: request?.ip ?? ctx.req.socket.remoteAddress,
    ...event,
  });
}

/**
 * Records the events of oidc-provider: tokens issued and refreshed at the
 * token endpoint, sign-outs, grants revoked (by the revocation endpoint,
 * logout or a replayed code or refresh token) and refresh token reuse.
 */
export function auditProviderEvents(provider: Provider, trail: AuditTrail): void {
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const grantType = grantTypeOf(ctx);
    const type = grantType === 'refresh_token' ? 'token.refreshed' : 'token.issued';
    recordFor(trail, ctx, { type, outcome: 'success', reason: grantType });
  });

  provider.on('grant.error', (ctx: KoaContextWithOIDC, error: { error_detail?: string }) => {
    if (grantTypeOf(ctx) === 'refresh_token' && REUSE_DETAILS.has(error.error_detail ?? '')) {
      recordFor(trail, ctx, { type: 'refresh_token.reuse_detected', outcome: 'denied', reason: 'refresh_token', detail: 'The grant was revoked.' });
    }
  });

  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    const accountId = ctx.oidc.session?.accountId;
    // oidc-provider emits the same event after "Stay signed in", which keeps the session.
    if (ctx.oidc.params?.['logout'] === undefined || accountId === undefined) {
      return;
    }
    recordFor(trail, ctx, { type: 'logout.succeeded', outcome: 'success', actor: accountId });
  });

  provider.on('grant.revoked', (ctx: KoaContextWithOIDC) => {
    const cause = REVOCATION_CAUSES[ctx.oidc.route] ?? ctx.oidc.route;
    recordFor(trail, ctx, { type: 'token.revoked', outcome: 'success', reason: cause });
  });
}
