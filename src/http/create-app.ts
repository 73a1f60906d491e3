import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifySchemaCompiler } from 'fastify';

import { securityHeaders } from '../core/security-headers.js';
import type { CorsHeaders } from './early-cors.js';
import type { Logger } from './logger.js';
import { AccessLogController, requestLogger } from './request-logger.js';
import { ProblemError } from '../core/problem.js';
import { hostHeaderProblem } from './host-header.js';
import { handleClientError, installProblemHandlers, sendProblem } from './problems.js';

// ajv-formats is published as CommonJS with the plugin on `default`.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

type FastifyValidator = ReturnType<FastifySchemaCompiler<unknown>>;

export interface HttpAppOptions {
  logger: Logger;
  /** Largest accepted request body, in bytes. */
  bodyLimit: number;
  /** Largest accepted request head (request line and headers), in bytes. */
  maxHeaderSize: number;
  /** True when clients reach the app over https, which turns on HSTS. */
  https: boolean;
  /**
   * Addresses or CIDR ranges of proxies in front of the app. For a request
   * from one of them, the client address is the right-most address in
   * X-Forwarded-For that is not itself a trusted proxy. Default none.
   */
  trustedProxies?: readonly string[];
  /**
   * Returns the CORS headers of a request, from its target in origin form
   * and its Origin, or undefined when none apply. They are set on every
   * error response, so errors from the earliest hooks and from the router,
   * raised before any other CORS handling ran, carry them too.
   */
  corsHeaders?: CorsHeaders;
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

  const headers = securityHeaders({ https: options.https });

  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    // Node.js would reject a request without Host with a bare 400 of its
    // own, so the onRequest hook below checks Host and sends a problem.
    http: { maxHeaderSize: options.maxHeaderSize, requireHostHeader: false },
    genReqId: () => randomUUID(),
    childLoggerFactory: requestLogger,
    logController: new AccessLogController(),
    trustProxy: options.trustedProxies !== undefined && options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    requestIdHeader: false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Off, because its 503 is not a problem document and lacks the security
    // headers; GracefulShutdown responds to requests during a shutdown instead.
    return503OnClosing: false,
    clientErrorHandler: (error, socket) => handleClientError(error, socket, headers),
    // Router errors such as a malformed percent-encoding are raised before
    // any hook runs, so they get their problem response here.
    frameworkErrors: (error, request, reply) => {
      reply.headers(headers);
      reply.header('x-request-id', request.id);
      setCorsHeaders(request.raw, reply);
      const problem =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new ProblemError('uri_too_long', 'A path segment of the request is too long.')
          : new ProblemError('invalid_request', 'The request URL is malformed.');
      request.log.info({ code: error.code }, problem.detail);
      return sendProblem(reply, problem);
    },
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true },
    rewriteUrl: (request) => originFormTarget(request.url ?? '/'),
  });

  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? BODY_VALIDATOR : TEXT_VALIDATOR).compile(schema) as FastifyValidator,
  );

  // JSON is the only body format of Portcullis APIs; Fastify would otherwise
  // also accept text/plain.
  app.removeContentTypeParser('text/plain');

  // A callback hook, unlike an async one, costs no promise per request.
  // It runs first, so no other hook or handler runs for a request with a
  // missing, repeated or invalid Host.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(headers);
    reply.header('x-request-id', request.id);
    done(hostHeaderProblem(request.raw));
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

  installProblemHandlers(app);

  return app;
}
