import { createHash } from 'node:crypto';

import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';

import type { AccountService } from '../accounts/account-service.js';
import { RegistrationError } from '../accounts/account-service.js';
import { auditLoginFailure } from '../audit/login-events.js';
import { OUTAGE_RETRY_AFTER_SECONDS, isBackendOutage } from '../backends/outage.js';
import { auditRequest } from '../audit/request-events.js';
import { clientAddressKey } from '../core/client-address.js';
import { PROBLEMS, ProblemError } from '../core/problem.js';
import { isDnsOrIpHost, isPrivateUseScheme } from '../core/redirect-uri-rules.js';
import { isCallerDisconnect, logCallerDisconnect } from '../http/problems.js';
import { partitionByRole, requestedApiScopes } from '../core/scopes.js';
import { ThrottleStoreError } from '../core/rate-limit/failure-counters.js';
import type { LoginThrottle } from '../core/rate-limit/login-throttle.js';
import type { Account, AccountRepository } from '../store/account-repository.js';
import { issuerCookieNames } from './cookie-names.js';
import { API_SCOPES, OIDC_SCOPES, SIGN_IN_REVOCATION_MARK } from './provider.js';
import { regrantResourceScopes, scopesToRegrant } from './regranted-scopes.js';
import { renderConsentPage } from './views/consent.js';
import { renderErrorPage } from './views/error-page.js';
import { pageContentSecurityPolicy } from './views/layout.js';
import { renderLoginPage } from './views/login.js';
import { renderRegisterPage, renderRegisteredPage } from './views/register.js';

export interface InteractionDependencies {
  provider: () => Provider;
  accountService: AccountService;
  accounts: AccountRepository;
  /** Key that signs the CSRF cookie. */
  cookieSecret: string;
  /** True when the issuer is https, which makes the CSRF cookie Secure. */
  secureCookies: boolean;
  loginThrottle: LoginThrottle;
  /** Whether the registration page is offered. */
  registrationEnabled: boolean;
  /** IPv6 clients are throttled per network of this many bits. */
  ipv6PrefixLength: number;
}

const UID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

const uidParams = {
  type: 'object',
  required: ['uid'],
  properties: { uid: { type: 'string', pattern: UID_PATTERN } },
} as const;

const csrfOnlyBody = {
  type: 'object',
  required: ['_csrf'],
  additionalProperties: false,
  properties: { _csrf: { type: 'string', maxLength: 512 } },
} as const;

const loginBody = {
  type: 'object',
  required: ['_csrf', 'username', 'password'],
  additionalProperties: false,
  properties: {
    _csrf: { type: 'string', maxLength: 512 },
    username: { type: 'string', maxLength: 256 },
    password: { type: 'string', maxLength: 1024 },
  },
} as const;

const registerBody = {
  type: 'object',
  required: ['_csrf', 'username', 'email', 'password'],
  additionalProperties: false,
  properties: {
    _csrf: { type: 'string', maxLength: 512 },
    username: { type: 'string', maxLength: 256 },
    email: { type: 'string', maxLength: 1024 },
    password: { type: 'string', maxLength: 1024 },
    interaction: { type: 'string', pattern: UID_PATTERN },
  },
} as const;

interface UidParams {
  uid: string;
}

interface LoginBody {
  username: string;
  password: string;
}

interface RegisterBody {
  username: string;
  email: string;
  password: string;
  interaction?: string;
}

function sendPage(reply: FastifyReply, status: number, body: string, formTargets: readonly string[] = []): FastifyReply {
  return reply
    .code(status)
    .header('content-security-policy', pageContentSecurityPolicy(formTargets))
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(body);
}

/**
 * Returns the CSP sources that match the client's redirect URI, where a form
 * post on this page ends up. That is its origin, except for a native app's
 * private-use scheme: such a URI has no origin, so the source is the scheme.
 * Chromium ignores a source with an IPv6 address as invalid and then blocks
 * the redirect (seen in browser-sign-in.test.ts), so a loopback URI such as
 * http://[::1]:8000/callback gets its scheme, the narrowest source left.
 * A host that is not a DNS name or IP address, which client registration
 * rejects, gets no source, so that it cannot add directives to the policy.
 */
export function redirectFormTargets(redirectUri: unknown): string[] {
  const parsed = typeof redirectUri === 'string' ? URL.parse(redirectUri) : null;
  if (parsed === null) {
    return [];
  }
  if (parsed.hostname.startsWith('[')) {
    return [parsed.protocol];
  }
  if (parsed.origin !== 'null') {
    return isDnsOrIpHost(parsed.hostname) ? [parsed.origin] : [];
  }
  return isPrivateUseScheme(parsed.protocol.slice(0, -1)) ? [parsed.protocol] : [];
}

function pageError(error: FastifyError): { status: number; title: string; detail: string } {
  if (error instanceof ProblemError) {
    return { status: error.status, title: PROBLEMS[error.code].title.toLowerCase(), detail: error.detail };
  }

  if (error.name === 'SessionNotFound' || error.name === 'InvalidRequest') {
    return {
      status: 400,
      title: 'sign-in request expired',
      detail: 'This sign-in request has expired or was opened in another browser. Start again from the application.',
    };
  }

  if (error.code?.startsWith('FST_CSRF')) {
    return { status: 403, title: 'form expired', detail: 'The form expired or did not come from this site. Reload the page and try again.' };
  }

  if (error.validation !== undefined || error.statusCode === 400 || error.statusCode === 415) {
    return { status: 400, title: 'invalid form', detail: 'The form submission is incomplete or malformed. Reload the page and try again.' };
  }

  if (error.statusCode === 413) {
    return { status: 413, title: 'form too large', detail: 'The form submission is larger than the server accepts.' };
  }

  if (isBackendOutage(error)) {
    return { status: 503, title: 'service unavailable', detail: 'The sign-in service cannot reach its storage right now. Try again in a few seconds.' };
  }

  return { status: 500, title: 'server error', detail: 'The server failed to process the request. Try again later.' };
}

/** Maximum time a sign-in waits for the second after a session revocation, in milliseconds. */
const MAX_REVOCATION_WAIT_MS = 1000;

/**
 * Waits, for at most a second, until the current second is past the one in
 * which the account's sessions were revoked. Session start times and the
 * revocation are whole epoch seconds. A session that starts in the second of
 * the revocation counts as revoked, so without the wait the user of a
 * sign-in right after a role removal would be asked for the password again.
 *
 * NOTE: the CLI writes the revocation time with its host's clock. When that
 * clock runs ahead of this server's, the wait stops after a second, and the
 * new session counts as revoked until this server's clock passes that time.
 */
async function waitPastSessionRevocation(account: Account): Promise<void> {
  if (account.sessionsRevokedAt === null) {
    return;
  }

  const waitMs = Math.min((account.sessionsRevokedAt + 1) * 1000 - Date.now(), MAX_REVOCATION_WAIT_MS);
  if (waitMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

/** Records an authorization request that ended in `access_denied` at the consent step. */
function auditConsentDenied(
  request: FastifyRequest,
  accountId: string | undefined,
  clientId: unknown,
  reason: 'scopes_withheld' | 'user_denied' | 'sign_in_cancelled',
): void {
  auditRequest(request, { type: 'consent.denied', outcome: 'denied', actor: accountId, clientId: typeof clientId === 'string' ? clientId : undefined, reason });
}

/**
 * Registers the login, consent and registration pages: the user interaction
 * steps that oidc-provider hands over to its integrator.
 */
export async function interactionRoutes(app: FastifyInstance, deps: InteractionDependencies): Promise<void> {
  await app.register(formbody, { bodyLimit: 16_384 });
  await app.register(cookie, { secret: deps.cookieSecret });
  // The cookie contains the secret that every form's token is checked against.
  // It is SameSite=Lax, because users reach the sign-in page by a
  // navigation from the client's site, on which browsers withhold Strict
  // cookies. A page would then get a new secret, and the forms of sign-in
  // pages open in other tabs would fail. Lax still keeps it off cross-site
  // form posts, and those lack a valid token anyway.
  await app.register(csrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: issuerCookieNames(deps.secureCookies).csrf,
    cookieOpts: { signed: true, httpOnly: true, sameSite: 'lax', path: '/', secure: deps.secureCookies },
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    // Nothing reaches a caller that left before its form was sent, so
    // only a stream destroyed by other means gets the error page.
    if (isCallerDisconnect(request, error)) {
      logCallerDisconnect(request, error);
      if (reply.raw.destroyed || request.raw.socket.destroyed) {
        return;
      }
    }

    const { status, title, detail } = pageError(error);
    if (error instanceof ProblemError) {
      reply.headers(error.headers);
    }
    if (status === 503) {
      reply.header('retry-after', String(OUTAGE_RETRY_AFTER_SECONDS));
    }
    // A rate-limit store outage is logged by the limiter at a bounded rate.
    const alreadyLogged = error instanceof ProblemError && error.alreadyLogged;
    if (status >= 500 && !alreadyLogged) {
      request.log.error({ err: error }, 'interaction failed');
    } else {
      request.log.info({ reason: title }, 'interaction rejected');
    }
    return sendPage(reply, status, renderErrorPage(title, detail));
  });

  async function loadInteraction(request: FastifyRequest<{ Params: UidParams }>, reply: FastifyReply) {
    const details = await deps.provider().interactionDetails(request.raw, reply.raw);
    if (details.uid !== request.params.uid) {
      throw Object.assign(new Error('interaction mismatch'), { name: 'SessionNotFound' });
    }

    const clientId = String(details.params['client_id']);
    const client = await deps.provider().Client.find(clientId);
    return { details, clientName: client?.clientName ?? clientId };
  }

  app.get<{ Params: UidParams; Querystring: { registered?: string } }>(
    '/interaction/:uid',
    { schema: { params: uidParams } },
    async (request, reply) => {
      const { details, clientName } = await loadInteraction(request, reply);
      const csrfToken = reply.generateCsrf();
      const formTargets = redirectFormTargets(details.params['redirect_uri']);

      if (details.prompt.name === 'login') {
        const registered = request.query.registered === '1';
        const page = renderLoginPage({ uid: details.uid, clientName, csrfToken, registered, registration: deps.registrationEnabled });
        return sendPage(reply, 200, page, formTargets);
      }

      const accountId = details.session?.accountId;
      const account = accountId === undefined ? undefined : await deps.accounts.findById(accountId);
      if (account === undefined) {
        throw Object.assign(new Error('account removed or disabled during interaction'), { name: 'SessionNotFound' });
      }

      const denial = withheldScopesDenial(details.params['scope'], account.roles);
      if (denial !== undefined) {
        request.log.info({ interaction: details.uid, accountId }, 'consent denied: the account may get none of the requested API scopes');
        auditConsentDenied(request, accountId, details.params['client_id'], 'scopes_withheld');
        return finish(request, reply, denial);
      }

      const grant = details.grantId === undefined ? undefined : await deps.provider().Grant.find(details.grantId);
      // For a user asked again, by a native app or by prompt=consent, the
      // page also lists the requested scopes that the grant contains.
      const asksAgain = details.prompt.reasons.includes('native_client_prompt') || details.prompt.reasons.includes('consent_prompt');
      const { scopes, withheld } = consentScopes(details, asksAgain ? grant : undefined, account.roles);
      const regranted = grant === undefined ? [] : [...scopesToRegrant(grant, details.params['scope'], account.roles).values()].flat();
      const page = renderConsentPage({
        uid: details.uid,
        clientName,
        username: account.username,
        csrfToken,
        scopes: [...new Set([...scopes, ...regranted])],
        withheldScopes: withheld,
      });
      return sendPage(reply, 200, page, formTargets);
    },
  );

  app.post<{ Params: UidParams; Body: LoginBody }>(
    '/interaction/:uid/login',
    { schema: { params: uidParams, body: loginBody }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const { details, clientName } = await loadInteraction(request, reply);
      if (details.prompt.name !== 'login') {
        throw Object.assign(new Error('not a login prompt'), { name: 'SessionNotFound' });
      }

      const { username, password } = request.body;
      const address = clientAddressKey(request.ip, deps.ipv6PrefixLength);
      const formTargets = redirectFormTargets(details.params['redirect_uri']);
      const retryPage = (status: number, retryAfterSeconds?: number) => {
        const page = renderLoginPage({
          uid: details.uid,
          clientName,
          csrfToken: reply.generateCsrf(),
          username: username.slice(0, 30),
          failed: retryAfterSeconds === undefined,
          retryAfterSeconds,
          registration: deps.registrationEnabled,
        });
        if (retryAfterSeconds !== undefined) {
          reply.header('retry-after', String(retryAfterSeconds));
        }
        return sendPage(reply, status, page, formTargets);
      };

      let verdict;
      try {
        verdict = await deps.loginThrottle.begin(username, address);
      } catch (error) {
        // Without its counters the throttle cannot protect the account, so
        // sign-in pauses rather than letting unlimited guesses through. The
        // throttle reports its store failures at a bounded rate.
        if (!(error instanceof ThrottleStoreError)) {
          request.log.error({ err: error }, 'login throttle unavailable');
        }
        reply.header('retry-after', String(OUTAGE_RETRY_AFTER_SECONDS));
        return sendPage(reply, 503, renderErrorPage('sign-in unavailable', 'Sign-in is temporarily unavailable. Try again shortly.'));
      }

      if (!verdict.allowed) {
        request.log.info({ interaction: details.uid }, 'login throttled');
        auditLoginFailure(request, deps.accounts, { username, clientId: String(details.params['client_id']), reason: 'throttled' });
        return retryPage(429, Math.ceil(verdict.retryAfterMs / 1000));
      }

      // A disabled account gets the same response as a wrong password,
      // because a different one would confirm a guessed password, which may
      // open the same user's accounts elsewhere.
      let authentication;
      try {
        authentication = await deps.accountService.authenticate(username, password);
      } catch (error) {
        // An attempt that never ends would hold one of the address's places for checks in progress.
        await deps.loginThrottle.abandoned(verdict.attempt).catch((abandonError: unknown) => {
          request.log.warn({ err: abandonError, interaction: details.uid }, 'ending a sign-in attempt for its address failed');
        });
        throw error;
      }
      if (authentication.outcome !== 'authenticated') {
        request.log.info({ interaction: details.uid }, 'login failed');
        try {
          await deps.loginThrottle.failed(verdict.attempt);
        } catch (error) {
          // The username counters counted this attempt already, so a lost address count lets one more guess through.
          request.log.warn({ err: error, interaction: details.uid }, 'recording a failed sign-in for its address failed');
        }
        auditLoginFailure(request, deps.accounts, { username, clientId: String(details.params['client_id']), reason: authentication.outcome });
        return retryPage(401);
      }

      const { account } = authentication;
      await waitPastSessionRevocation(account);

      try {
        await deps.loginThrottle.succeeded(username, verdict.attempt);
      } catch (error) {
        // The password was right: a counter reset that failed only leaves
        // earlier failures counted, which errs toward caution, so the user
        // signs in as with a failed count above.
        request.log.warn({ err: error, interaction: details.uid }, 'recording a successful sign-in for its counters failed');
      }
      request.log.info({ interaction: details.uid, accountId: account.id }, 'login succeeded');
      auditRequest(request, { type: 'login.succeeded', outcome: 'success', actor: account.id, clientId: String(details.params['client_id']) });
      // The sign-in time becomes the ID token's auth_time. It is recorded
      // here because the result may be applied later, after a consent step,
      // which is also why the result records the revocation time it read.
      const login = { accountId: account.id, ts: Math.floor(Date.now() / 1000), [SIGN_IN_REVOCATION_MARK]: account.sessionsRevokedAt };
      const result: InteractionResults = { login };
      return finish(request, reply, result);
    },
  );

  app.post<{ Params: UidParams }>(
    '/interaction/:uid/confirm',
    { schema: { params: uidParams, body: csrfOnlyBody }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const { details } = await loadInteraction(request, reply);
      const accountId = details.session?.accountId;
      if (details.prompt.name !== 'consent' || accountId === undefined) {
        throw Object.assign(new Error('not a consent prompt'), { name: 'SessionNotFound' });
      }

      const account = await deps.accounts.findById(accountId);
      if (account === undefined) {
        throw Object.assign(new Error('account removed or disabled during interaction'), { name: 'SessionNotFound' });
      }

      const denial = withheldScopesDenial(details.params['scope'], account.roles);
      if (denial !== undefined) {
        request.log.info({ interaction: details.uid, accountId }, 'consent denied: the account may get none of the requested API scopes');
        auditConsentDenied(request, accountId, details.params['client_id'], 'scopes_withheld');
        return finish(request, reply, denial);
      }

      const provider = deps.provider();
      const clientId = String(details.params['client_id']);
      const existing = await grantToUpdate(provider, details, accountId, clientId);
      // oidc-provider 9 reads `jti` from the properties, though its typings leave it out.
      const properties = { jti: consentGrantId(details.uid), accountId, clientId };
      const grant = existing ?? new provider.Grant(properties);
      const prompt = details.prompt.details as ConsentDetails;

      if (prompt.missingOIDCScope !== undefined) {
        grant.addOIDCScope(prompt.missingOIDCScope.join(' '));
      }
      if (prompt.missingOIDCClaims !== undefined) {
        grant.addOIDCClaims(prompt.missingOIDCClaims);
      }
      for (const [indicator, scopes] of scopesToRegrant(grant, details.params['scope'], account.roles)) {
        regrantResourceScopes(grant, indicator, scopes);
      }
      for (const [indicator, scopes] of Object.entries(prompt.missingResourceScopes ?? {})) {
        const { allowed, withheld } = partitionByRole(scopes, account.roles);
        if (allowed.length > 0) {
          grant.addResourceScope(indicator, allowed.join(' '));
        }
        if (withheld.length > 0) {
          grant.rejectResourceScope(indicator, withheld.join(' '));
        }
      }

      const grantId = await grant.save();
      request.log.info({ interaction: details.uid, accountId, clientId }, 'consent granted');
      auditRequest(request, { type: 'consent.granted', outcome: 'success', actor: accountId, clientId, detail: `grant ${grantId}` });
      return finish(request, reply, { consent: { grantId } });
    },
  );

  app.post<{ Params: UidParams }>(
    '/interaction/:uid/abort',
    { schema: { params: uidParams, body: csrfOnlyBody }, preHandler: app.csrfProtection },
    async (request, reply) => {
      const { details } = await loadInteraction(request, reply);
      // The sign-in page and the consent page both post here to cancel.
      const reason = details.prompt.name === 'login' ? 'sign_in_cancelled' : 'user_denied';
      auditConsentDenied(request, details.session?.accountId, details.params['client_id'], reason);

      const result: InteractionResults = { error: 'access_denied', error_description: 'The user denied the request.' };
      return finish(request, reply, result);
    },
  );

  /**
   * Completes the interaction and redirects back to the authorization
   * endpoint. A sign-in result stays merged into the consent result that
   * follows it. Without it, oidc-provider would see the sign-in that
   * `prompt=login` or `max_age` requested as still missing after consent,
   * and ask for the password again, forever when consent is asked every
   * time (`prompt=consent`, native apps). oidc-provider merges no error
   * result, so a denial is sent as it is.
   */
  async function finish(request: FastifyRequest, reply: FastifyReply, result: InteractionResults) {
    const location = await deps.provider().interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: true });
    return reply.header('cache-control', 'no-store').redirect(location, 303);
  }

  const registrationDisabled = (reply: FastifyReply) =>
    sendPage(reply, 404, renderErrorPage('registration closed', 'New accounts are created by an administrator on this server.'));

  app.get<{ Querystring: { interaction?: string } }>(
    '/register',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { interaction: { type: 'string', pattern: UID_PATTERN } },
        },
      },
    },
    async (request, reply) => {
      if (!deps.registrationEnabled) {
        return registrationDisabled(reply);
      }

      const page = renderRegisterPage({ csrfToken: reply.generateCsrf(), interactionUid: request.query.interaction });
      return sendPage(reply, 200, page);
    },
  );

  app.post<{ Body: RegisterBody }>(
    '/register',
    { schema: { body: registerBody }, preHandler: app.csrfProtection },
    async (request, reply) => {
      if (!deps.registrationEnabled) {
        return registrationDisabled(reply);
      }

      const { username, email, password, interaction } = request.body;

      try {
        const account = await deps.accountService.register({ username, email, password });
        request.log.info({ accountId: account.id }, 'account registered');
        auditRequest(request, { type: 'account.created', outcome: 'success', actor: account.id, reason: 'registration', detail: `account ${account.id} with no roles` });
      } catch (error) {
        if (!(error instanceof RegistrationError)) {
          throw error;
        }

        const page = renderRegisterPage({
          csrfToken: reply.generateCsrf(),
          interactionUid: interaction,
          username: username.slice(0, 30),
          email: email.slice(0, 255),
          violations: error.violations,
        });
        return sendPage(reply, 400, page);
      }

      if (interaction !== undefined) {
        return reply.redirect(`/interaction/${interaction}?registered=1`, 303);
      }
      return sendPage(reply, 201, renderRegisteredPage(username));
    },
  );
}

/**
 * Returns the id of the grant that the consent form of interaction `uid`
 * creates. Each submission of the form, also one sent in parallel with
 * another, as by a double click, saves to this one id, so the store keeps
 * one grant for the form. The id is a hash, not the uid itself, because
 * the interaction is stored under its uid in the same table.
 */
function consentGrantId(uid: string): string {
  return createHash('sha256').update(`consent grant:${uid}`).digest('base64url');
}

/**
 * Returns the grant that consent adds to: the one the authorization request
 * found, or else the one that an earlier submission of the same consent
 * form saved. A grant of another account or client is never returned.
 */
async function grantToUpdate(
  provider: Provider,
  details: { uid: string; grantId?: string | undefined },
  accountId: string,
  clientId: string,
): Promise<InstanceType<Provider['Grant']> | undefined> {
  const grant = await provider.Grant.find(details.grantId ?? consentGrantId(details.uid));
  return grant?.accountId === accountId && grant.clientId === clientId ? grant : undefined;
}

interface ConsentDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

/**
 * Returns the result that ends an authorization request whose API scopes
 * are all withheld for lack of a role, or undefined when the account may
 * get at least one of them. Otherwise the client would get an access token
 * for the API with an empty scope, which no operation accepts.
 */
export function withheldScopesDenial(scope: unknown, roles: readonly string[]): InteractionResults | undefined {
  const requested = requestedApiScopes(scope);
  const { allowed, withheld } = partitionByRole(requested, roles);
  if (requested.length === 0 || allowed.length > 0) {
    return undefined;
  }

  return {
    error: 'access_denied',
    error_description: `The account does not have the role that the requested scopes require: ${withheld.join(', ')}.`,
  };
}

/** The parts of a grant that the consent page reads. */
interface GrantedScopes {
  resources?: Record<string, unknown>;
  getOIDCScopeFiltered(filter: Set<string>): string;
  getResourceScopeFiltered(resource: string, filter: Set<string>): string;
}

/**
 * Returns the scopes that the consent page lists: those not granted yet,
 * split by the account's roles. A native app's user is asked again on every
 * request (oidc-provider's default, as RFC 8252 section 8.6 advises), and
 * any user on a request with `prompt=consent`. With `existingGrant`, the
 * page also lists the requested scopes that the grant contains, which the
 * client gets again.
 */
function consentScopes(
  details: { prompt: { details: unknown }; params: Record<string, unknown> },
  existingGrant: GrantedScopes | undefined,
  roles: readonly string[],
): { scopes: string[]; withheld: string[] } {
  const prompt = details.prompt.details as ConsentDetails;
  const known = new Set<string>(API_SCOPES);
  const resourceScopes = Object.values(prompt.missingResourceScopes ?? {}).flat();
  const { allowed, withheld } = partitionByRole(resourceScopes, roles);
  const scopes = [...(prompt.missingOIDCScope ?? []), ...allowed.filter((scope) => known.has(scope))];

  if (existingGrant !== undefined) {
    const requested = new Set(String(details.params['scope'] ?? '').split(' '));
    const granted = [
      ...existingGrant.getOIDCScopeFiltered(requested).split(' '),
      ...Object.keys(existingGrant.resources ?? {}).flatMap((resource) => existingGrant.getResourceScopeFiltered(resource, requested).split(' ')),
    ];
    const openIdScopes = new Set<string>(OIDC_SCOPES);
    scopes.unshift(...granted.filter((scope) => openIdScopes.has(scope) || known.has(scope)));
  }

  return { scopes: [...new Set(scopes)], withheld };
}
