/**
 * Builds the operations the gateway enforces for one upstream: declared by
 * its OpenAPI document (or its `routes`), then tightened by the policy the
 * configuration sets per upstream and per operation.
 */

import type { GatewayRoute, LifecyclePolicy, ObjectBinding, OperationPolicy, UpstreamConfig } from '../config/schema.js';
import { loadOpenApiDocument } from '../core/openapi/load.js';
import { compileOperations, OpenApiError, type CompiledOperation } from '../core/openapi/operations.js';
import { checkDistinctPaths, fromRouterSyntax, parseRoutePath, RoutePathError, type RoutePath } from '../core/openapi/route-path.js';
import { schemaAdmitsMember } from '../core/openapi/schema-members.js';
import { gatewayDropReason } from './forward.js';
import { headerPatternMatcher, normalizedHeaderName } from './header-patterns.js';
import type { Lifecycle } from './lifecycle.js';
import { pointerTokens } from './object-binding.js';
import type { RoutePolicy } from './route-policy.js';

/** An upstream policy the gateway cannot enforce; the message names the upstream, the operation and the fix. */
export class UpstreamPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamPolicyError';
  }
}

/** An operation as declared by the upstream, before the configured policy. */
type DocumentOnly = 'validate' | 'responses' | 'queryParameters' | 'jsonBodySchemas';
type DeclaredOperation = Omit<CompiledOperation, DocumentOnly> & Partial<Pick<CompiledOperation, DocumentOnly>>;

const NO_POLICY: OperationPolicy = { scopes: [], roles: [], public: false, bindings: [] };

function fromRoute(upstream: UpstreamConfig, route: GatewayRoute): DeclaredOperation {
  try {
    const path = parseRoutePath(fromRouterSyntax(route.path));
    // Without a document no body is declared, so a body binding reads whatever JSON arrives.
    return { ...route, path: path.router, route: path, operationId: undefined, deprecated: false, headerParameters: [], cookieParameters: [], jsonRequestBody: true };
  } catch (error) {
    throw error instanceof RoutePathError ? new UpstreamPolicyError(`upstream '${upstream.name}': ${error.message}`) : error;
  }
}

/** Returns the `METHOD /path` key of an operation, with the path in OpenAPI syntax (`/users/{userId}`). */
export function operationKey(operation: Pick<DeclaredOperation, 'method' | 'route'>): string {
  return `${operation.method} ${operation.route.template}`;
}

function union(first: readonly string[], second: readonly string[]): string[] {
  return [...new Set([...first, ...second])];
}

function toLifecycle(policy: LifecyclePolicy, inherited: LifecyclePolicy): Lifecycle {
  const deprecation = policy.deprecation ?? inherited.deprecation;
  const sunset = policy.sunset ?? inherited.sunset;
  const deprecationLink = policy.deprecationLink ?? inherited.deprecationLink;
  const sunsetLink = policy.sunsetLink ?? inherited.sunsetLink;

  return {
    ...(deprecation === undefined ? {} : { deprecation: new Date(deprecation) }),
    ...(sunset === undefined ? {} : { sunset: new Date(sunset) }),
    ...(deprecationLink === undefined ? {} : { deprecationLink }),
    ...(sunsetLink === undefined ? {} : { sunsetLink }),
  };
}

/** Finds the configured policy of an operation, keyed by its operationId or its `METHOD /path`. */
function policyOf(upstream: UpstreamConfig, operation: DeclaredOperation, used: Set<string>): OperationPolicy {
  const keys = [operation.operationId, operationKey(operation)].filter((key): key is string => key !== undefined && Object.hasOwn(upstream.operations, key));
  if (keys.length > 1) {
    throw new UpstreamPolicyError(`upstream '${upstream.name}': operations '${keys[0]}' and '${keys[1]}' configure the same operation; keep one of them`);
  }

  const key = keys[0];
  if (key === undefined) {
    return NO_POLICY;
  }
  used.add(key);
  return upstream.operations[key] as OperationPolicy;
}

function checkSecurity(upstream: UpstreamConfig, operation: DeclaredOperation, policy: OperationPolicy): void {
  const name = operationKey(operation);

  if (!policy.public && operation.credentials.length === 0) {
    throw new UpstreamPolicyError(
      `upstream '${upstream.name}': ${name} declares no security requirement, and every operation must require a credential. ` +
        `Declare one in the OpenAPI document, or serve it without credentials with public: true under operations['${name}'] of this upstream in gateway/upstreams.`,
    );
  }
  if (policy.public && operation.credentials.length > 0) {
    throw new UpstreamPolicyError(
      `upstream '${upstream.name}': ${name} is configured public but declares a security requirement; remove one of the two`,
    );
  }
  // A public operation reads no credential, so the roles would never be checked.
  if (policy.public && operation.roles.length > 0) {
    throw new UpstreamPolicyError(
      `upstream '${upstream.name}': ${name} is configured public but requires the roles ${operation.roles.join(', ')} with x-portcullis-roles; ` +
        'declare a security requirement in the OpenAPI document instead of public: true, or remove x-portcullis-roles',
    );
  }

  const missing = policy.bindings.find((binding) => binding.in === 'path' && !operation.route.parameters.includes(binding.name));
  if (missing !== undefined) {
    throw new UpstreamPolicyError(`upstream '${upstream.name}': ${name} has no path parameter '${missing.name}' to bind`);
  }
  // The document's query is closed, so a request that sends an undeclared
  // parameter gets 400 and one that leaves it out fails the binding.
  const undeclared = policy.bindings.find(
    (binding) => binding.in === 'query' && operation.queryParameters !== undefined && !operation.queryParameters.includes(binding.name),
  );
  if (undeclared !== undefined) {
    throw new UpstreamPolicyError(
      `upstream '${upstream.name}': ${name} binds the query parameter '${undeclared.name}', which the OpenAPI document does not declare, so every request would be rejected; declare it or remove the binding`,
    );
  }

  const body = policy.bindings.find((binding) => binding.in === 'body');
  if (body !== undefined && !operation.jsonRequestBody) {
    throw new UpstreamPolicyError(
      `upstream '${upstream.name}': ${name} binds the body member '${body.name}', but declares no JSON request body; declare one in the OpenAPI document or remove the binding`,
    );
  }
  const forbidden = policy.bindings.find((binding) => binding.in === 'body' && !bodyAdmits(operation, binding));
  if (forbidden !== undefined) {
    throw new UpstreamPolicyError(
      `upstream '${upstream.name}': ${name} binds the body member '${forbidden.name}', which the request body schema of the OpenAPI document does not allow ` +
        '(undeclared in a closed object, or readOnly), so every request would be rejected; declare the member or remove the binding',
    );
  }
  // Rails merges path parameters into the request's parameters after the
  // body members, so `params[:account]` would be the unchecked path value.
  for (const binding of policy.bindings.filter((bound) => bound.in === 'body')) {
    const parameter = shadowingPathParameter(binding, operation, policy);
    if (parameter !== undefined) {
      throw new UpstreamPolicyError(
        `upstream '${upstream.name}': ${name} binds the body member '${binding.name}', but not the path parameter '${parameter}', ` +
          'which Rails reads in place of the body member; bind the path parameter too',
      );
    }
  }
  // Fastify reads no body on GET, so such a binding would reject every request.
  if (body !== undefined && operation.method === 'GET') {
    throw new UpstreamPolicyError(
      `upstream '${upstream.name}': ${name} binds the body member '${body.name}', but the gateway reads no body on GET; bind a path or query parameter instead`,
    );
  }
}

/** Returns whether one of the operation's JSON body schemas leaves room for the bound member; true without a document. */
function bodyAdmits(operation: DeclaredOperation, binding: ObjectBinding): boolean {
  const schemas = operation.jsonBodySchemas;
  return schemas === undefined || schemas.length === 0 || schemas.some((schema) => schemaAdmitsMember(schema, pointerTokens(binding.name)));
}

/**
 * Returns the path parameter of `operation` named like the first member of
 * a body binding's pointer, without regard to case, when no path binding
 * covers it, or undefined.
 */
function shadowingPathParameter(binding: ObjectBinding, operation: DeclaredOperation, policy: OperationPolicy): string | undefined {
  const member = (pointerTokens(binding.name)[0] ?? '').toLowerCase();
  const parameter = operation.route.parameters.find((name) => name.toLowerCase() === member);
  if (parameter === undefined || policy.bindings.some((bound) => bound.in === 'path' && bound.name === parameter)) {
    return undefined;
  }
  return parameter;
}

function toRoutePolicy(upstream: UpstreamConfig, operation: DeclaredOperation, policy: OperationPolicy): RoutePolicy {
  checkSecurity(upstream, operation, policy);

  const lifecycle = toLifecycle(policy, upstream);
  if (operation.deprecated && lifecycle.deprecation === undefined) {
    throw new UpstreamPolicyError(
      `upstream '${upstream.name}': ${operationKey(operation)} is deprecated in the OpenAPI document, but the Deprecation header (RFC 9745) needs a date; ` +
        `set deprecation under operations['${operationKey(operation)}'] or on the upstream`,
    );
  }

  const { validate, responses } = operation;
  return {
    method: operation.method,
    path: operation.path,
    route: operation.route,
    scopes: union(operation.scopes, policy.scopes),
    roles: union(operation.roles, policy.roles),
    credentials: operation.credentials,
    public: policy.public,
    bindings: policy.bindings.filter((binding) => binding.in !== 'body'),
    bodyBindings: policy.bindings.filter((binding) => binding.in === 'body'),
    lifecycle,
    headerParameters: new Set(operation.headerParameters.map(normalizedHeaderName)),
    ...(validate === undefined ? {} : { validate: (parts) => validate(parts) }),
    ...(responses === undefined ? {} : { responses }),
  };
}

/**
 * Rejects a cookie parameter, since the gateway drops the Cookie header,
 * and a header parameter that the gateway drops from every request
 * (gatewayDropReason), that the upstream's `dropRequestHeaders` removes, or
 * whose name has punctuation other than `-`.
 * The gateway would check it on every request, but the upstream, which
 * declares that it reads it, would never receive the caller's value.
 *
 * Host, Content-Length, Content-Type and Accept-Encoding, which the gateway
 * may write itself, are not checked, because the upstream still receives
 * each of them with the value it has on the forwarded request.
 */
function checkDroppedHeaderParameters(upstream: UpstreamConfig, declared: readonly DeclaredOperation[]): void {
  const droppedBy = headerPatternMatcher(upstream.dropRequestHeaders);
  for (const operation of declared) {
    const cookie = operation.cookieParameters[0];
    if (cookie !== undefined) {
      throw new UpstreamPolicyError(
        `upstream '${upstream.name}': ${operationKey(operation)} declares the cookie parameter '${cookie}', but the gateway drops the Cookie header from every request because ${gatewayDropReason('cookie') ?? ''}, ` +
          "so the upstream would never receive the caller's value. Take the cookie parameter out of the OpenAPI document.",
      );
    }

    for (const name of operation.headerParameters) {
      const reason = gatewayDropReason(name);
      if (reason !== undefined) {
        throw new UpstreamPolicyError(
          `upstream '${upstream.name}': ${operationKey(operation)} declares the header parameter '${name}', which the gateway drops from every request because ${reason}, ` +
            "so the upstream would never receive the caller's value. Take the header parameter out of the OpenAPI document.",
        );
      }

      const entry = droppedBy(name);
      if (entry !== undefined) {
        throw new UpstreamPolicyError(
          `upstream '${upstream.name}': ${operationKey(operation)} declares the header parameter '${name}', which dropRequestHeaders removes ('${entry}'), ` +
            'so the upstream would never receive it. Take the header out of dropRequestHeaders of this upstream, or out of the OpenAPI document.',
        );
      }

      // The gateway drops such a spelling of a header parameter it validated (see dropSpellingAliases in forward.ts).
      const normalized = normalizedHeaderName(name);
      if (normalized !== name.toLowerCase()) {
        throw new UpstreamPolicyError(
          `upstream '${upstream.name}': ${operationKey(operation)} declares the header parameter '${name}', which the gateway drops from every request because a name with ` +
            `punctuation other than '-' is read as '${normalized}' by servers that map '_' to '-', so the upstream would never receive the caller's value. ` +
            `Spell the header parameter '${normalized}' in the OpenAPI document.`,
        );
      }
    }
  }
}

/** Options of upstreamRoutes. */
export interface UpstreamRoutesOptions {
  /**
   * Whether the gateway validates requests against the document (the
   * `gateway.validateRequests` setting). Default true. Without validation,
   * the query is not closed and the body schema not enforced, so bindings
   * to undeclared query parameters and to body members that the schema
   * does not allow can pass and are accepted.
   */
  validateRequests?: boolean;
  /** Receives each distinct warning of the schema compiler (see CompileOptions). */
  onWarning?: (message: string) => void;
}

/**
 * Returns the route policies of an upstream. Configured scopes and roles add
 * to the document's, so the configuration can tighten an operation but never
 * loosen what the upstream declares.
 *
 * Throws OpenApiError for a document that cannot be enforced, and
 * UpstreamPolicyError for a policy that names an unknown operation or
 * contradicts the document.
 */
export async function upstreamRoutes(upstream: UpstreamConfig, options: UpstreamRoutesOptions = {}): Promise<RoutePolicy[]> {
  let declared: DeclaredOperation[];
  if (upstream.openapi === null) {
    declared = upstream.routes.map((route) => fromRoute(upstream, route));
    try {
      checkDistinctPaths(declared.map((operation) => operation.route));
    } catch (error) {
      throw error instanceof RoutePathError ? new UpstreamPolicyError(`upstream '${upstream.name}': ${error.message}`) : error;
    }
  } else {
    const document = await loadOpenApiDocument(upstream.openapi);
    try {
      declared = compileOperations(document, { onWarning: options.onWarning });
    } catch (error) {
      throw error instanceof OpenApiError ? new OpenApiError(`upstream '${upstream.name}': ${upstream.openapi}: ${error.message}`) : error;
    }
    if (options.validateRequests === false) {
      // checkSecurity skips the query and body checks of an operation without these lists.
      declared = declared.map(({ queryParameters: _query, jsonBodySchemas: _bodies, ...operation }) => operation);
    }
    checkDroppedHeaderParameters(upstream, declared);
  }

  const used = new Set<string>();
  const routes = declared.map((operation) => toRoutePolicy(upstream, operation, policyOf(upstream, operation, used)));

  const unknown = Object.keys(upstream.operations).find((key) => !used.has(key));
  if (unknown !== undefined) {
    throw new UpstreamPolicyError(`upstream '${upstream.name}': operations names '${unknown}', which the upstream does not declare`);
  }
  return routes;
}

/** An operation of another upstream on the same service, with its path relative to the base path of the upstream at hand. */
export interface ForeignOperation {
  method: string;
  route: RoutePath;
}

/** Returns the origin and the base path, without a trailing slash, of an upstream URL. */
function serviceOf(url: string): { origin: string; basePath: string } {
  const parsed = new URL(url);
  return { origin: parsed.origin, basePath: parsed.pathname.replace(/\/+$/, '') };
}

/**
 * Returns, for the upstream at each index of `urls`, the operations of the
 * other upstreams with the same origin whose upstream paths lie under its
 * base path, relative to that base path. `routes` contains the operations
 * of each upstream at the same index. Two mount paths can thus lead to one
 * service, and a request through one may name an operation of the other
 * (see foreignPathCheck).
 *
 * NOTE: origins are compared as text, so two names or addresses of one
 * service, such as `localhost` and `127.0.0.1`, count as two services.
 */
export function sharedServiceOperations(urls: readonly string[], routes: ReadonlyArray<readonly RoutePolicy[]>): ForeignOperation[][] {
  const services = urls.map(serviceOf);
  return services.map((service, index) => {
    const foreign: ForeignOperation[] = [];
    services.forEach((other, otherIndex) => {
      if (otherIndex === index || other.origin !== service.origin) {
        return;
      }
      for (const policy of routes[otherIndex] ?? []) {
        const path = `${other.basePath}${policy.route.template}`;
        if (service.basePath === '' || path.startsWith(`${service.basePath}/`)) {
          foreign.push({ method: policy.method, route: parseRoutePath(path.slice(service.basePath.length)) });
        }
      }
    });
    return foreign;
  });
}

