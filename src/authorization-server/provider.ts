import Provider, {
  errors,
  interactionPolicy,
  type Adapter,
  type ClientAuthMethod,
  type Configuration,
  type KoaContextWithOIDC,
} from 'oidc-provider';

import type { PortcullisConfig } from '../config/schema.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { auditProviderEvents } from '../audit/provider-events.js';
import type { Logger } from '../http/logger.js';
import { ACCESS_TOKEN_SIGNING_ALGORITHM, LEGACY_CLIENT_ID_TOKEN_SIGNING_ALGORITHM, SIGNING_ALGORITHMS } from '../keys/signing-keys.js';
import type { Account, AccountRepository } from '../store/account-repository.js';
import type { ClientRepository } from '../store/client-repository.js';
import { revokedGrantOf } from '../store/replayed-grant.js';
import type { SigningKey } from '../store/signing-key-repository.js';
import { OUTAGE_RETRY_AFTER_SECONDS, isBackendOutage } from '../backends/outage.js';
import { listApiScopes } from './discovery.js';
import { checkClientAssertionAudience, checkClientAssertionExpiry } from './client-assertion.js';
import { checkCodeChallenge } from './code-challenge.js';
import { issuerCookieNames } from './cookie-names.js';
import { answerUnroutedRequests } from './endpoint-methods.js';
import { answerJwtIntrospection } from './introspection.js';
import { ROUTES } from './provider-routes.js';
import { rotateAfterTargetCheck, type RefreshTargetFeatures } from './refresh-rotation.js';
import { scopesToRegrant } from './regranted-scopes.js';
import { correctTokenErrorCodes } from './token-error-codes.js';
import { explainJwtAtUserinfo } from './userinfo-errors.js';
import { renderErrorPage } from './views/error-page.js';
import { renderLoggedOutPage, renderLogoutPage, renderStillSignedInPage } from './views/logout.js';

import { CLIENT_AUTH_SIGNING_ALGORITHMS } from '../core/client-signing-keys.js';
import { API_SCOPES, OIDC_SCOPES, partitionByRole, requestedApiScopes } from '../core/scopes.js';

export { API_SCOPES, OIDC_SCOPES };

export { ROUTES };

/**
 * Client authentication methods of the token, introspection and revocation
 * endpoints. oidc-provider 9 authenticates clients the same way at all three.
 * `client_secret_post` stays out because oidc-provider compares a secret in
 * the form body only when it is listed, and the client authentication
 * throttle counts per client id only the ids of the Authorization header.
 */
const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = ['none', 'client_secret_basic', 'private_key_jwt'];

/**
 * Authentication metadata of the introspection and revocation endpoints,
 * which oidc-provider 9 leaves out of discovery. RFC 8414 section 2 reads a
 * missing `revocation_endpoint_auth_methods_supported` as
 * `client_secret_basic` only, and requires the signing algorithms wherever
 * `private_key_jwt` is listed.
 */
const ENDPOINT_AUTH_METADATA = {
  introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
  introspection_endpoint_auth_signing_alg_values_supported: CLIENT_AUTH_SIGNING_ALGORITHMS,
  revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
  revocation_endpoint_auth_signing_alg_values_supported: CLIENT_AUTH_SIGNING_ALGORITHMS,
};

export interface ProviderDependencies {
  config: Readonly<PortcullisConfig>;
  accounts: AccountRepository;
  clients: ClientRepository;
  signingKeys: readonly SigningKey[];
  cookieKeys: string[];
  /** Builds the adapter that persists one oidc-provider model. */
  adapter: (model: string) => Adapter;
  logger: Logger;
  /** Receives token issuance, refresh, revocation and reuse events. */
  audit?: AuditTrail;
}

function requestedScopes(ctx: KoaContextWithOIDC): string[] {
  const scope = ctx.oidc.params?.['scope'];
  return typeof scope === 'string' ? scope.split(' ') : [];
}

/**
 * Tells whether the request's `scope` parameter names no API scope. A request
 * without the parameter, such as a code exchange or a plain refresh, keeps
 * the scopes granted before and is not one.
 */
function scopeParameterLacksApiScope(ctx: KoaContextWithOIDC, apiScopes: ReadonlySet<string>): boolean {
  return typeof ctx.oidc.params?.['scope'] === 'string' && !requestedScopes(ctx).some((scope) => apiScopes.has(scope));
}

function isClientCredentialsGrant(ctx: KoaContextWithOIDC): boolean {
  return ctx.oidc.route === 'token' && ctx.oidc.params?.['grant_type'] === 'client_credentials';
}

/**
 * Rejects a client credentials request for a scope outside the client's
 * `allowed_scopes`, instead of silently issuing a narrower token, and one
 * without a scope, which would get a token that no operation accepts
 * (RFC 6749 section 3.3 leaves a default scope or `invalid_scope`). An
 * OpenID scope is rejected too, even when the client may request it for
 * its users, because it describes a user and the API token of this grant
 * would silently leave it out.
 */
async function checkClientCredentialsScope(ctx: KoaContextWithOIDC, clientId: string, clients: ClientRepository, apiScopes: ReadonlySet<string>): Promise<void> {
  const metadata = await clients.find(clientId);
  const allowed = (metadata?.allowed_scopes ?? '').split(' ').filter((scope) => apiScopes.has(scope));
  const requested = requestedScopes(ctx).filter((scope) => scope !== '');
  if (requested.length === 0) {
    throw new errors.InvalidScope(`the scope parameter is missing; request one or more of: ${allowed.join(' ')}`, '');
  }
  for (const scope of requested) {
    if (!apiScopes.has(scope)) {
      throw new errors.InvalidScope(`the client credentials grant issues API scopes only; request one or more of: ${allowed.join(' ')}`, scope);
    }
    if (!allowed.includes(scope)) {
      throw new errors.InvalidScope('requested scope is not allowed for this client', scope);
    }
  }
}

/**
 * Rejects a user's request for a scope outside the client's
 * `allowed_scopes` at the authorization and pushed authorization endpoints.
 * A refresh can only narrow the scopes granted there. A client without
 * `allowed_scopes` may request every scope.
 */
async function checkAllowedScopes(ctx: KoaContextWithOIDC, clientId: string, clients: ClientRepository): Promise<void> {
  const metadata = await clients.find(clientId);
  if (metadata?.allowed_scopes === undefined) {
    return;
  }

  const allowed = new Set(metadata.allowed_scopes.split(' '));
  for (const scope of requestedScopes(ctx)) {
    if (scope !== '' && !allowed.has(scope)) {
      throw new errors.InvalidScope('requested scope is not allowed for this client', scope);
    }
  }
}

/**
 * Decides a revocation request for a token issued to `client` or another
 * client (RFC 7009 section 2.1). An authenticated client that presents
 * another client's token gets `invalid_request`. A public client is not
 * authenticated, so it gets the response to an unknown token (200, nothing
 * revoked) and cannot learn which tokens exist.
 */
async function revocationAllowed(_ctx: KoaContextWithOIDC, client: { clientId: string; clientAuthMethod?: string | undefined }, token: { clientId?: string | undefined }): Promise<boolean> {
  if (token.clientId === client.clientId) {
    return true;
  }
  if (client.clientAuthMethod === 'none') {
    return false;
  }
  throw new errors.InvalidRequest('the token was not issued to this client');
}

/**
 * The property of a login result that records the account's
 * `sessionsRevokedAt` as the sign-in read it. Another value at a later step
 * of the same authorization request, such as the consent form, means that
 * the account's sessions were revoked after the sign-in.
 */
export const SIGN_IN_REVOCATION_MARK = 'sessionsRevokedAt';

/**
 * Tells whether the account's sessions were revoked after the sign-in that
 * `login`, a login result of this authorization request, records. It
 * compares the revocation time with the one that the sign-in read, not with
 * the sign-in time, so a CLI host whose clock runs ahead cannot hold up a
 * sign-in that came after the revocation.
 */
function revokedSinceSignIn(account: Account, login: Record<string, unknown>): boolean {
  return account.sessionsRevokedAt !== (login[SIGN_IN_REVOCATION_MARK] ?? null);
}

/**
 * Builds a login check that requires the password again when the session's
 * account is disabled or gone, or its sessions were revoked after this one
 * started. Disabling an account deletes its sessions from SQL, but not from
 * Redis, where the session would otherwise sign the account in again once
 * it is enabled. A sign-in that this authorization request completed is
 * checked too, because the revocation may have come while the user was on
 * the consent page, and the consent step carries that sign-in forward.
 * Checks added to a prompt after oidc-provider built it get no error code
 * of their own, so a request with prompt=none would get
 * `interaction_required` instead of `login_required`.
 */
function revokedSessionCheck(accounts: AccountRepository): interactionPolicy.Check {
  return new interactionPolicy.Check('session_revoked', 'End-User authentication is required again', 'login_required', async (ctx) => {
    const session = ctx.oidc.session;
    if (session?.accountId === undefined) {
      return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }

    const account = await accounts.findById(session.accountId);
    if (account === undefined) {
      return interactionPolicy.Check.REQUEST_PROMPT;
    }

    const login = ctx.oidc.result?.['login'] as Record<string, unknown> | undefined;
    if (login !== undefined) {
      return revokedSinceSignIn(account, login) ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }

    // Both times are epoch seconds, so a session that started in the second
    // of the revocation counts as revoked. A sign-in in that second waits
    // for the next one (see waitPastSessionRevocation in interactions.ts).
    const revoked = account.sessionsRevokedAt !== null && (session.loginTs ?? 0) <= account.sessionsRevokedAt;
    return revoked ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
  });
}

/**
 * Returns oidc-provider's default interaction policy with two more consent
 * checks. A request whose API scopes the account's roles all withhold goes
 * to the consent step, which denies it. oidc-provider alone would skip
 * consent once a grant records those scopes as rejected, and then issue an
 * access token for the API with an empty scope. A request for a scope that
 * the grant rejected, and that a role the account has since gained allows,
 * goes to the consent step too, which grants it.
 */
function interactionPolicyWithRoles(accounts: AccountRepository): interactionPolicy.Prompt[] {
  const policy = interactionPolicy.base();
  const allApiScopesWithheld = new interactionPolicy.Check(
    'api_scopes_withheld',
    'the account may get none of the requested API scopes',
    'consent_required',
    async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      const requested = requestedApiScopes(ctx.oidc.params?.['scope']);
      if (accountId === undefined || requested.length === 0) {
        return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      }

      const account = await accounts.findById(accountId);
      const { allowed } = partitionByRole(requested, account?.roles ?? []);
      return allowed.length === 0 ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    },
  );
  const withheldScopesNowAllowed = new interactionPolicy.Check(
    'withheld_scopes_now_allowed',
    'the account now has the role of a requested scope that an earlier consent withheld',
    'consent_required',
    async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      const grant = ctx.oidc.grant;
      if (accountId === undefined || grant?.rejected?.resources === undefined) {
        return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      }

      const account = await accounts.findById(accountId);
      const regranted = scopesToRegrant(grant, ctx.oidc.params?.['scope'], account?.roles ?? []);
      return regranted.size > 0 ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    },
  );
  policy.get('consent')?.checks.add(allApiScopesWithheld);
  policy.get('consent')?.checks.add(withheldScopesNowAllowed);
  policy.get('login')?.checks.add(revokedSessionCheck(accounts));
  return policy;
}

/**
 * Builds the oidc-provider configuration: Portcullis's policy on top of the
 * protocol engine.
 *
 * - authorization code flow only, PKCE required for every client (oidc-provider
 *   9 supports only S256, so `plain` is rejected);
 * - `redirect_uri` always sent and matched exactly;
 * - refresh tokens rotate on every use; a replayed code or refresh token
 *   revokes the grant (oidc-provider, plus the atomic consume in OidcAdapter);
 * - access tokens carrying API scopes are RFC 9068 JWTs for the API audience,
 *   even without a `resource` parameter. A request with only OpenID scopes
 *   gets an opaque token for the userinfo endpoint, and `invalid_target`
 *   when it names the API as its resource.
 */
export function buildConfiguration(deps: ProviderDependencies): Configuration {
  const { config, accounts, clients } = deps;
  const apiScopes = new Set<string>(API_SCOPES);
  const corsOrigins = new Set(config.corsOrigins);

  const resourceIndicators: RefreshTargetFeatures['resourceIndicators'] = {
    enabled: true,
    async defaultResource(ctx, client, oneOf) {
      // oidc-provider calls this for every authorization and pushed
      // authorization request without a `resource` parameter, and
      // getResourceServerInfo for one with it, so the two together see
      // every scope and code challenge that such a request names.
      if (!isClientCredentialsGrant(ctx)) {
        checkCodeChallenge(ctx);
        await checkAllowedScopes(ctx, client.clientId, clients);
      }
      if (oneOf !== undefined) {
        return oneOf;
      }
      if (isClientCredentialsGrant(ctx)) {
        return config.audience;
      }
      return requestedScopes(ctx).some((scope) => apiScopes.has(scope)) ? config.audience : undefined;
    },
    // A refresh narrowed to OpenID scopes gets a token for the userinfo
    // endpoint, not one for the API without an API scope.
    async useGrantedResource(ctx) {
      return !scopeParameterLacksApiScope(ctx, apiScopes);
    },
    async getResourceServerInfo(ctx, resourceIndicator, client) {
      if (resourceIndicator !== config.audience) {
        throw new errors.InvalidTarget(`unknown resource indicator; the API audience is ${config.audience}`);
      }
      // The API key routes accept a user's token for the API whatever its
      // scope, so a token without an API scope would reach them on a
      // consent to OpenID scopes only.
      if (!isClientCredentialsGrant(ctx) && scopeParameterLacksApiScope(ctx, apiScopes)) {
        throw new errors.InvalidTarget(`a token for ${config.audience} needs an API scope; request one or more of: ${API_SCOPES.join(' ')}`);
      }
      if (isClientCredentialsGrant(ctx)) {
        await checkClientCredentialsScope(ctx, client.clientId, clients, apiScopes);
      } else {
        checkCodeChallenge(ctx);
        await checkAllowedScopes(ctx, client.clientId, clients);
      }

      return {
        scope: API_SCOPES.join(' '),
        audience: config.audience,
        accessTokenTTL: config.tokens.accessToken,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: ACCESS_TOKEN_SIGNING_ALGORITHM } },
      };
    },
  };
  const userinfo = { enabled: true };

  return {
    adapter: deps.adapter,
    jwks: { keys: deps.signingKeys.map((key) => key.privateJwk) as never },
    cookies: {
      names: { session: issuerCookieNames(deps.config.issuer.startsWith('https:')).session },
      keys: deps.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },

    async findAccount(_ctx, sub) {
      const account = await accounts.findById(sub);
      if (account === undefined) {
        return undefined;
      }

      return {
        accountId: account.id,
        async claims() {
          return {
            sub: account.id,
            email: account.email,
            email_verified: false,
            preferred_username: account.username,
          };
        },
      };
    },

    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username'],
    },
    scopes: [...OIDC_SCOPES],

    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      // Applies only to clients stored without the member; new ones store it.
      id_token_signed_response_alg: LEGACY_CLIENT_ID_TOKEN_SIGNING_ALGORITHM,
    },
    // Discovery lists these ID token algorithms whether or not `jwks`
    // contains a key of each, so every start creates a missing key before the
    // provider exists (ensureSigningKeys). Signed userinfo, introspection
    // and authorization responses stay ES256 only.
    enabledJWA: {
      idTokenSigningAlgValues: [...SIGNING_ALGORITHMS],
      userinfoSigningAlgValues: ['ES256'],
      introspectionSigningAlgValues: ['ES256'],
      authorizationSigningAlgValues: ['ES256'],
      clientAuthSigningAlgValues: [...CLIENT_AUTH_SIGNING_ALGORITHMS],
    },
    clientAuthMethods: [...CLIENT_AUTH_METHODS],
    discovery: structuredClone(ENDPOINT_AUTH_METADATA),
    responseTypes: ['code'],
    pkce: { required: () => true },
    allowOmittingSingleRegisteredRedirectUri: false,
    clockTolerance: config.gateway.clockToleranceSeconds,
    assertJwtClientAuthClaimsAndHeader: async (ctx, claims) => {
      checkClientAssertionAudience(claims, ctx.oidc.clientJwtAuthExpectedAudience());
      checkClientAssertionExpiry(claims, config.gateway.clockToleranceSeconds);
    },

    routes: { ...ROUTES },

    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: false },
      // NOTE: oidc-provider does not find a refresh token whose sign-in
      // session is gone (checkSessionBinding), as after a restart of a Redis
      // without persistence. Revoking such a token then returns 200 and
      // leaves its grant, so the grant's access tokens work until they
      // expire. Seen in a test against a restarted Redis, cause read from
      // oidc-provider's code but not proven.
      revocation: { enabled: true, allowedPolicy: revocationAllowed },
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      userinfo,
      clientCredentials: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = renderLogoutPage(form);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          // oidc-provider ends up here also when the user chose to stay
          // signed in, and anyone may open this page, so it reports the
          // session that the browser's cookie names.
          const session = await ctx.oidc.provider.Session.get(ctx);
          if (session.accountId !== undefined) {
            ctx.body = renderStillSignedInPage();
            return;
          }

          // Tells the browser to drop what it kept for this origin, as the
          // OWASP Secure Headers Project recommends after sign-out. It
          // leaves out "cookies", which clears the cookies of the whole
          // registrable domain (MDN's Clear-Site-Data page; seen in
          // Chromium by browser-sign-out.test.ts). On auth.example.com that
          // would also sign the user out of app.example.com.
          // oidc-provider has expired its own session cookie already.
          ctx.set('clear-site-data', '"cache", "storage"');
          ctx.body = renderLoggedOutPage();
        },
      },
      resourceIndicators,
    },

    formats: {
      customizers: {
        // The gateway checks `grant_id` against the store on every request,
        // which is how revoking a grant (logout, refresh token reuse, code
        // replay) stops the self-contained JWTs issued under it.
        async jwt(_ctx, token, jwt) {
          if (!('accountId' in token)) {
            return;
          }

          const account = await accounts.findById(token.accountId);
          jwt.payload['grant_id'] = token.grantId;
          jwt.payload['roles'] = account?.roles ?? [];
        },
      },
    },

    rotateRefreshToken: rotateAfterTargetCheck({ userinfo, resourceIndicators }),
    // Every client registered with the refresh_token grant gets a refresh
    // token. Without `offline_access` (which OpenID Connect grants only with
    // prompt=consent) the refresh token ends with the login session.
    async issueRefreshToken(_ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },

    ttl: {
      AccessToken: config.tokens.accessToken,
      // Set explicitly, because oidc-provider's default prints a plain-text
      // notice on standard output into the JSON log.
      ClientCredentials: config.tokens.accessToken,
      AuthorizationCode: config.tokens.authorizationCode,
      IdToken: config.tokens.idToken,
      RefreshToken: config.tokens.refreshToken,
      Grant: config.tokens.grant,
      Session: config.tokens.session,
      // A sign-in request is stored until it expires; 30 minutes is ample
      // time to sign in or register and bounds what abandoned ones occupy.
      Interaction: 1800,
    },

    interactions: {
      url: async (_ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: interactionPolicyWithRoles(accounts),
    },

    clientBasedCORS: (_ctx, origin) => corsOrigins.has(origin),

    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = renderErrorPage(out.error ?? 'server_error', out.error_description);
    },
  };
}

/** Creates the protocol engine and reports its server errors to the log. */
export function createProvider(deps: ProviderDependencies): Provider {
  const provider = new Provider(deps.config.issuer, buildConfiguration(deps));
  // The authorization server overwrites X-Forwarded-Host, -Proto and -For
  // with the issuer's host and scheme and the trusted client address before
  // a request reaches oidc-provider, so they are safe to trust here.
  provider.proxy = true;
  provider.use(answerUnroutedRequests);
  provider.use(correctTokenErrorCodes);
  provider.use(answerJwtIntrospection);
  provider.use(explainJwtAtUserinfo);
  provider.use(listApiScopes);

  provider.on('server_error', (ctx: KoaContextWithOIDC, error: Error) => {
    deps.logger.error({ err: error, route: ctx.oidc?.route }, 'authorization server error');

    // oidc-provider emits this before the response is written, so a backend
    // outage can still turn its 500 into a 503 that clients may retry.
    if (isBackendOutage(error)) {
      ctx.status = 503;
      ctx.set('retry-after', String(OUTAGE_RETRY_AFTER_SECONDS));
    }
  });
  // When two requests race with one code or refresh token, only the
  // adapter detects the replay, and it revokes the grant without
  // oidc-provider emitting `grant.revoked`. Emitting it here lets the audit
  // trail record the revocation, before the reuse as for other replays.
  provider.on('grant.error', (ctx: KoaContextWithOIDC, error: unknown) => {
    const grantId = revokedGrantOf(error);
    if (grantId !== undefined) {
      provider.emit('grant.revoked', ctx, grantId);
    }
  });
  if (deps.audit !== undefined) {
    auditProviderEvents(provider, deps.audit);
  }

  return provider;
}
