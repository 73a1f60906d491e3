import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';

import type { ClientAuthThrottle } from '../core/rate-limit/client-auth-throttle.js';
import { earlyCorsHeaders, type CorsHeaders } from '../http/early-cors.js';
import { isCallerDisconnect, logCallerDisconnect } from '../http/problems.js';
import { authenticatesClient, beginClientAuth, finishClientAuth } from './client-auth-guard.js';
import { allowedMethods } from './endpoint-methods.js';
import { interactionRoutes, type InteractionDependencies } from './interactions.js';
import { DISCOVERY_PATHS, PROVIDER_CORS_ALLOWED_HEADERS, PROVIDER_CORS_PATHS, PROVIDER_EARLY_EXPOSED_HEADERS, ROUTES } from './provider-routes.js';
import { oauthRequests } from './request-storage.js';
import { sendOAuthServerError } from './server-errors.js';
import { STYLESHEET, STYLESHEET_PATH } from './views/layout.js';

export interface AuthorizationServerOptions extends InteractionDependencies {
  provider: () => Provider;
  /** The issuer URL; its host replaces the request's Host header for oidc-provider. */
  issuer: string;
  /** Browser origins allowed to make CORS requests to the OAuth endpoints. */
  corsOrigins: readonly string[];
  clientSecrets: ClientSecretCheck;
  /** Delays clients and addresses after repeated failed client authentications. */
  clientAuthThrottle: ClientAuthThrottle;
}

/** Checks client secrets that are stored hashed, which oidc-provider cannot compare itself; see ClientSecretHasher. */
export interface ClientSecretCheck {
  /** Returns the secret that oidc-provider compares when `secret` is the client's secret, or undefined when it is not. */
  providerSecret(clientId: string, secret: string): Promise<string | undefined>;
}

/**
 * Content-Security-Policy of responses from oidc-provider. It lists
 * `script-src` so that oidc-provider adds the hash of its one inline script,
 * the form_post auto-submit. It omits `form-action` because that form posts
 * to the client's redirect URI.
 */
const PROVIDER_CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * Mounts the authorization server: oidc-provider's endpoints, served by the
 * protocol engine itself, and the interaction pages served by Fastify.
 */
export async function authorizationServer(app: FastifyInstance, options: AuthorizationServerOptions): Promise<void> {
  await app.register(interactionRoutes, options);

  app.get(STYLESHEET_PATH, async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=3600').type('text/css; charset=utf-8').send(STYLESHEET),
  );

  await app.register(async (engine) => {
    // oidc-provider reads request bodies itself, so Fastify must leave the
    // stream untouched on these routes.
    engine.removeAllContentTypeParsers();
    engine.addContentTypeParser('*', (_request, _payload, done) => done(null));

    const allowedOrigins = new Set(options.corsOrigins);
    const corsHeaders = earlyCorsHeaders(options.corsOrigins, [{ paths: PROVIDER_CORS_PATHS, exposedHeaders: PROVIDER_EARLY_EXPOSED_HEADERS }]);
    const issuer = new URL(options.issuer);
    const handle = async (request: FastifyRequest, reply: FastifyReply) => {
      // oidc-provider builds endpoint URLs in discovery and redirects from
      // the request's scheme and host, and marks its cookies Secure only on
      // an https request. The configured issuer decides them, never the
      // caller or the TLS proxy's plain http hop. createProvider sets
      // `proxy`, so oidc-provider reads these X-Forwarded-* headers, and
      // X-Forwarded-For carries the address Fastify took from trusted
      // proxies only.
      request.raw.headers.host = issuer.host;
      request.raw.headers['x-forwarded-host'] = issuer.host;
      request.raw.headers['x-forwarded-proto'] = issuer.protocol.slice(0, -1);
      request.raw.headers['x-forwarded-for'] = request.ip;

      const credentials = basicCredentials(request);
      if (!authenticatesClient(request)) {
        await substituteClientSecret(request, credentials, options.clientSecrets);
        return delegate(options.provider(), request, reply, allowedOrigins, corsHeaders);
      }

      // The throttle decides before the secret is checked, so a throttled guess learns nothing.
      const attempt = await beginClientAuth(request, options.clientAuthThrottle, credentials?.clientId, options.ipv6PrefixLength);
      const secretVerified = await substituteClientSecret(request, credentials, options.clientSecrets);
      await delegate(options.provider(), request, reply, allowedOrigins, corsHeaders);
      await finishClientAuth(request, options.clientAuthThrottle, attempt, { secretVerified, status: reply.raw.statusCode });
    };

    // Fastify rejects a Content-Type header that it cannot parse, such as
    // `;` or a bare word, with a 415 problem document before any parser
    // runs. oidc-provider handles every other content type itself, so its
    // endpoints return an RFC 6749 error and a path or method it does not
    // serve gets a 404 or 405. These requests go to it too. A server
    // failure before oidc-provider on an endpoint where clients
    // authenticate gets an RFC 6749 error, and any other error reaches the
    // application's error handler.
    const sendOrRethrow = (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
      const pending = !reply.sent && !isCallerDisconnect(request, error);
      if (pending && authenticatesClient(request) && sendOAuthServerError(request, reply, error)) {
        return;
      }
      throw error;
    };
    engine.setErrorHandler(async (error: FastifyError, request, reply) => {
      if (error.code !== 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        sendOrRethrow(error, request, reply);
        return;
      }
      await handle(request, reply).catch((failure: unknown) => sendOrRethrow(failure, request, reply));
    });

    // A method that Fastify does not route, such as PROPFIND, reaches the
    // application's not-found handler, which reads the endpoint's methods
    // from `allowedMethods` for its 405.
    const routeOptions = { config: { allowedMethods } };
    engine.all('/oauth/*', routeOptions, handle);
    for (const path of DISCOVERY_PATHS) {
      engine.all(path, routeOptions, handle);
    }
    engine.all(ROUTES.jwks, routeOptions, handle);
  });
}

function formDecode(value: string): string {
  return decodeURIComponent(value.replaceAll('+', ' '));
}

interface BasicCredentials {
  clientId: string;
  secret: string;
}

/** Reads `Authorization: Basic`; malformed credentials give undefined, for oidc-provider to reject. */
function basicCredentials(request: FastifyRequest): BasicCredentials | undefined {
  const authorization = request.raw.headers.authorization;
  if (authorization === undefined || !/^Basic /i.test(authorization)) {
    return undefined;
  }

  try {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const separator = decoded.indexOf(':');
    if (separator === -1) {
      return undefined;
    }
    const clientId = formDecode(decoded.slice(0, separator));
    return clientId === '' ? undefined : { clientId, secret: formDecode(decoded.slice(separator + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * Replaces a correct client secret in `Authorization: Basic` with the
 * client's stand-in before oidc-provider checks it, and returns whether it
 * was correct. A wrong secret stays as it is, so oidc-provider rejects it
 * with `invalid_client`. A correct sealed secret also stays, because
 * oidc-provider compares a sealed secret itself.
 */
async function substituteClientSecret(request: FastifyRequest, credentials: BasicCredentials | undefined, secrets: ClientSecretCheck): Promise<boolean> {
  if (credentials === undefined || credentials.secret === '') {
    return false;
  }

  const { clientId, secret } = credentials;
  const providerSecret = await secrets.providerSecret(clientId, secret);
  if (providerSecret === undefined) {
    return false;
  }

  if (providerSecret !== secret) {
    const replaced = `${encodeURIComponent(clientId)}:${encodeURIComponent(providerSecret)}`;
    request.raw.headers.authorization = `Basic ${Buffer.from(replaced).toString('base64')}`;
  }
  return true;
}

const callbacks = new WeakMap<Provider, ReturnType<Provider['callback']>>();

/**
 * Hands a request to oidc-provider.
 *
 * oidc-provider responds to every CORS preflight, and to requests for its
 * public documents, by echoing the Origin. Portcullis allows only listed
 * origins. For any other origin the preflight ends here without CORS headers,
 * and CORS headers that oidc-provider sets on other responses are dropped.
 * A preflight of a listed origin may send only {@link PROVIDER_CORS_ALLOWED_HEADERS}.
 */
async function delegate(
  provider: Provider,
  request: FastifyRequest,
  reply: FastifyReply,
  allowedOrigins: ReadonlySet<string>,
  corsHeaders: CorsHeaders,
): Promise<void> {
  const origin = request.headers.origin;
  const foreignOrigin = origin !== undefined && !allowedOrigins.has(origin);

  if (foreignOrigin && request.method === 'OPTIONS') {
    await reply.code(204).header('vary', 'Origin').send();
    return;
  }

  // oidc-provider sends CORS headers only from the endpoints it routes, so
  // without these a listed origin could not read the 404 or 405 that
  // answerUnroutedRequests sends. oidc-provider replaces them on the
  // responses of its endpoints. Preflights are left to oidc-provider,
  // which sets CORS headers of its own on each one.
  const cors = foreignOrigin || request.method === 'OPTIONS' ? undefined : corsHeaders(request.url, origin);
  if (cors !== undefined) {
    reply.headers(cors);
  }

  let callback = callbacks.get(provider);
  if (callback === undefined) {
    callback = provider.callback();
    callbacks.set(provider, callback);
  }

  reply.hijack();
  const response = reply.raw;
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) {
      response.setHeader(name, value);
    }
  }
  response.setHeader('content-security-policy', PROVIDER_CONTENT_SECURITY_POLICY);
  response.setHeader('pragma', 'no-cache');

  if (foreignOrigin) {
    response.setHeader('vary', 'Origin');
    const setHeader = response.setHeader.bind(response);
    response.setHeader = (name, value) =>
      name.toLowerCase().startsWith('access-control-') ? response : setHeader(name, value);
  } else if (request.method === 'OPTIONS') {
    // oidc-provider copies Access-Control-Request-Headers into its
    // response, which would let a listed origin send headers such as Cookie.
    const setHeader = response.setHeader.bind(response);
    response.setHeader = (name, value) =>
      name.toLowerCase() === 'access-control-allow-headers' ? setHeader(name, PROVIDER_CORS_ALLOWED_HEADERS.join(', ')) : setHeader(name, value);
  }

  await oauthRequests.track(() => callback(request.raw, response));

  // oidc-provider reads the body itself and writes its error for a body
  // cut short to a closed connection, so neither the error handler nor
  // the access log would record the request.
  const errored = request.raw.errored;
  if (errored !== null) {
    logCallerDisconnect(request, errored);
  }
}
