import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifySchemaCompiler } from 'fastify';

import { ProblemError } from '../core/problem.js';
import { securityHeaders } from '../core/security-headers.js';
import { checkTrustedProxies } from '../core/trusted-proxies.js';
import type { CorsHeaders } from './early-cors.js';
import type { GracefulShutdown } from './graceful-shutdown.js';
import type { Logger } from './logger.js';
import { AccessLogController, requestLogger } from './request-logger.js';
import { hostHeaderProblem } from './host-header.js';
import { httpVersionProblem } from './http-version.js';
import { transferEncodingProblem } from './transfer-encoding.js';
import { closeIdleConnections } from './idle-connections.js';
import { rejectUnsupportedRequests } from './unsupported-requests.js';
import { continueWhenBodyIsRead } from './expect-continue.js';
import { handleClientError, installProblemHandlers, sendFrameworkError, sendProblem, unroutedProblem } from './problems.js';
import { trackServedMethods } from './served-methods.js';

// ajv-formats is published as CommonJS with the plugin on `default`.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

type FastifyValidator = ReturnType<FastifySchemaCompiler<unknown>>;

export interface HttpAppOptions {
  logger: Logger;
  /** Largest accepted request body, in bytes. */
  bodyLimit: number;
  /** Largest accepted request head (request line and headers), in bytes. */
  maxHeaderSize: number;
  /**
   * Maximum time for a client to send a whole request, head and body, in
   * milliseconds. A request not received in time gets 408
   * `request_timeout` and its connection is closed. Default 30000.
   */
  requestTimeoutMs?: number;
  /**
   * Maximum time a connection may make no progress, in milliseconds, before
   * it is closed: no new request, no byte of a request being received, no
   * response byte taken by the client. It must cover the longest wait for
   * a response, such as one from an upstream. Default 120000.
   */
  idleTimeoutMs?: number;
  /** True when clients reach the app over https, which turns on HSTS. */
  https: boolean;
  /**
   * Addresses or CIDR ranges of proxies in front of the app. For a request
   * from one of them, the client address is the right-most address in
   * X-Forwarded-For that is not itself a trusted proxy. Default none. An
   * entry that is no address or range in standard notation, or a range
   * wider than /8 for IPv4 or /7 for IPv6, throws a RangeError.
   */
  trustedProxies?: readonly string[];
  /**
   * Returns the CORS headers of a request, from its target in origin form
   * and its Origin, or undefined when none apply. They are set on every
   * error response, so errors from the earliest hooks and from the router,
   * raised before any other CORS handling ran, carry them too.
   */
  corsHeaders?: CorsHeaders;
  /** Tracks the app's requests and connections so that it can stop gracefully. */
  shutdown?: GracefulShutdown;
}

function createValidator(coerceTypes: false | 'array'): Ajv {
  const ajv = new Ajv({
    // Unknown properties are rejected, never silently dropped: dropping them
    // would hide mass-assignment attempts instead of reporting them.
    removeAdditional: false,
    useDefaults: true,
    coerceTypes,
    allErrors: true,
  });
  addFormats(ajv);
  return ajv;
}

/**
 * Validators by request part. Query strings, path parameters and headers
 * are text, so their values are coerced to the schema's types. JSON bodies
 * carry their own types, so `"2"` stays a string and fails an integer field.
 */
const TEXT_VALIDATOR = createValidator('array');
const BODY_VALIDATOR = createValidator(false);

/** Default of {@link HttpAppOptions.requestTimeoutMs}. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Default of {@link HttpAppOptions.idleTimeoutMs}. */
const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/**
 * How often Node.js checks the request deadlines of all connections, in
 * milliseconds. Its default of 30000 would let a request run up to 30
 * seconds past its deadline.
 */
const REQUEST_DEADLINE_CHECK_INTERVAL_MS = 1000;

/** The scheme and authority of an absolute-form request target, such as `http://host:8080`. */
const ABSOLUTE_FORM_PREFIX = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/**
 * Returns the origin form (path and query) of a request target. A server
 * must accept the absolute form `GET http://host/path` (RFC 9112 section
 * 3.2.2), but the checks that read `request.url`, such as the OAuth target
 * length and the sign-in limit, match it as a path.
 */
export function originFormTarget(url: string): string {
  if (url.startsWith('/')) {
    return url;
  }
  const prefix = ABSOLUTE_FORM_PREFIX.exec(url);
  if (prefix === null) {
    return url;
  }
  const rest = url.slice(prefix[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/**
 * Returns the problem of a request with the asterisk form `*` as its
 * target, or undefined for any other target. The router would match `*`
 * as the path `/`, so `GET *` would reach the root route. No route
 * serves `OPTIONS *`, the only method the asterisk form allows
 * (RFC 9112 section 3.2.4).
 */
function asteriskFormProblem(method: string, url: string): ProblemError | undefined {
  if (url !== '*') {
    return undefined;
  }
  const detail =
    method === 'OPTIONS'
      ? 'The request target * (asterisk form) is not supported. Send OPTIONS to a path, such as /oauth/token.'
      : 'The request target * (asterisk form) is allowed only with OPTIONS. Send the request to a path, such as /.';
  return new ProblemError('invalid_request', detail);
}

/**
 * Returns the problem of a request target that contains `#`, or undefined.
 * A fragment is never part of a request target (RFC 9112 section 3.2), and
 * clients send a `#` of a path or query as `%23`. The router ends the path
 * at the first `?` or `#` and parses what follows as the query, but the
 * gateway forwards the query from the first `?`. So `/items#q=a?limit=500`
 * would be validated with `q` and reach the upstream with `limit`, and an
 * upstream would read `?q=a#b` as `q=a`.
 */
function fragmentProblem(url: string): ProblemError | undefined {
  if (!url.includes('#')) {
    return undefined;
  }
  return new ProblemError('invalid_request', "The request target contains '#', which a request target must not contain. Send '#' in a path or query as %23.");
}

/**
 * Sets `Connection: close` on the reply to a request after which the server
 * cannot tell where the next request starts, and returns the problem that
 * httpVersionProblem finds in its HTTP version or transferEncodingProblem
 * in its Transfer-Encoding, if any.
 *
 * No route upgrades the protocol, so a request with Upgrade is served as a
 * plain one. Node.js 20 ignores the bytes read together with it, so a
 * request pipelined after it would get no response while the connection
 * stays open. Closing the connection makes the client send that request
 * again. The body of a request with a rejected Transfer-Encoding stays
 * unread, and the bytes after it are no request that a proxy in front of
 * the server sent.
 */
function closeAfterUnframedRequest(raw: IncomingMessage, reply: FastifyReply): ProblemError | undefined {
  const framing = httpVersionProblem(raw) ?? transferEncodingProblem(raw);
  if (raw.headers.upgrade !== undefined || framing !== undefined) {
    reply.header('connection', 'close');
  }
  return framing;
}

/**
 * Creates a Fastify app with the behaviour every Portcullis listener shares:
 * request ids, problem-details errors, security headers and strict parsing.
 */
export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  const setCorsHeaders = (raw: IncomingMessage, reply: FastifyReply): void => {
    const found = options.corsHeaders?.(raw.url ?? '', raw.headers.origin);
    if (found !== undefined) {
      reply.headers(found);
    }
  };

  checkTrustedProxies(options.trustedProxies ?? []);
  const headers = securityHeaders({ https: options.https });
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;

  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    // Node.js would reject a request without Host with a bare 400 of its
    // own, so the onRequest hook below checks Host and sends a problem.
    http: {
      maxHeaderSize: options.maxHeaderSize,
      requireHostHeader: false,
      // One deadline covers the head and the body, so a client that sends
      // either slowly (slowloris, slow POST) gets handleClientError's 408.
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: REQUEST_DEADLINE_CHECK_INTERVAL_MS,
    },
    // Fastify sets the server's requestTimeout from this option, 0 if unset.
    requestTimeout: requestTimeoutMs,
    genReqId: () => randomUUID(),
    childLoggerFactory: requestLogger,
    logController: new AccessLogController(),
    trustProxy: options.trustedProxies !== undefined && options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    requestIdHeader: false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Off, because its 503 is not a problem document and lacks the security
    // headers. GracefulShutdown responds to requests during a shutdown instead.
    return503OnClosing: false,
    clientErrorHandler: (error: Error & { code?: string }, socket) => {
      // Logged here, because a request still in the app then ends with the
      // error of a caller that left, which would hide the cause.
      if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        app.log.info({ remoteAddress: socket.remoteAddress, requestTimeoutMs }, 'request not received within the request timeout, so its connection was closed after a 408 where possible');
      }
      handleClientError(error, socket, headers);
    },
    // Router errors such as a malformed percent-encoding are raised before
    // any hook runs, so they get their problem response here.
    frameworkErrors: (error, request, reply) => {
      reply.headers(headers);
      reply.header('x-request-id', request.id);
      setCorsHeaders(request.raw, reply);
      // No hook runs for these requests, so the router error does not
      // exempt them from closing the connection.
      closeAfterUnframedRequest(request.raw, reply);
      return sendFrameworkError(error, request, reply);
    },
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true },
    rewriteUrl: (request) => originFormTarget(request.url ?? '/'),
  });

  rejectUnsupportedRequests(app.server, headers, options.logger);
  continueWhenBodyIsRead(app.server);
  closeIdleConnections(app.server, options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, (socket, idleMs) =>
    app.log.debug({ remoteAddress: socket.remoteAddress, idleMs }, 'closed a connection that made no progress for longer than the idle timeout'),
  );

  // Added before any route, so that it records every route of the app.
  const servedMethods = trackServedMethods(app);

  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? BODY_VALIDATOR : TEXT_VALIDATOR).compile(schema) as FastifyValidator,
  );

  // JSON is the only body format of Portcullis APIs; Fastify would otherwise
  // also accept text/plain.
  app.removeContentTypeParser('text/plain');

  // A callback hook, unlike an async one, costs no promise per request.
  // It runs first, so no other hook or handler runs for a request with a
  // missing, repeated or invalid Host, with the target `*` or a target
  // with `#`, with a Transfer-Encoding that transferEncodingProblem
  // rejects, or one that arrives during a shutdown, and their problem
  // responses carry the security headers.
  const shutdown = options.shutdown;
  shutdown?.watch(app);
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(headers);
    reply.header('x-request-id', request.id);
    // The connection ends with the response also when another check below
    // rejects the request first.
    const framing = closeAfterUnframedRequest(request.raw, reply);
    // The shutdown admits every request before the checks, because it must
    // know the newest response of each connection, or it could close the
    // connection before the error response of a pipelined request.
    const problem =
      shutdown?.admit(request.raw, reply) ??
      hostHeaderProblem(request.raw) ??
      asteriskFormProblem(request.method, request.url) ??
      fragmentProblem(request.url) ??
      framing;
    done(problem);
  });

  // An error raised before the CORS handling of the gateway or the OAuth
  // endpoints ran, such as the per-address limit's 429, still needs CORS
  // headers for a listed origin to read it. Setting them on errors only
  // keeps the lookup off every request that succeeds.
  if (options.corsHeaders !== undefined) {
    app.addHook('onError', (request, reply, _error, done) => {
      setCorsHeaders(request.raw, reply);
      done();
    });
  }

  installProblemHandlers(app, servedMethods);

  // Fastify parses the body of a request before the not-found handler
  // runs. Without this hook, a request that no route serves would get 400
  // for a malformed body instead of its 404 or 405, and anyone could make
  // the server parse up to bodyLimit of JSON for nothing. A plugin with a
  // not-found handler of its own, such as the gateway at its mount path,
  // handles its requests itself.
  app.addHook('preParsing', (request, reply, payload, done) => {
    if (request.is404 && request.server === app) {
      setCorsHeaders(request.raw, reply);
      sendProblem(reply, unroutedProblem(request, servedMethods));
      return;
    }
    done(null, payload);
  });

  return app;
}
