/**
 * The upstreams of the gateway: the single-upstream shorthand, its folding
 * into `gateway.upstreams`, and the checks that JSON Schema cannot express.
 */

import { resolve } from 'node:path';

import type { GatewayConfig, GatewayRoute, LifecyclePolicy, OperationPolicy, UpstreamConfig } from './schema.js';

/** Keys of `gateway` that describe one upstream without an `upstreams` list. */
const SHORTHAND_KEYS = ['mountPath', 'upstreamUrl', 'openapi', 'routes', 'dropRequestHeaders'] as const;

/** Name of the upstream built from the shorthand keys. */
export const SHORTHAND_UPSTREAM_NAME = 'default';

/**
 * Path prefixes that the authorization server and the demo client serve. A
 * gateway mounted on one of them would shadow its pages or endpoints.
 */
const RESERVED_PREFIXES = ['/.well-known', '/oauth', '/interaction', '/register', '/demo'];

/** Returns the operations of the demo Orders API, for configurations without an OpenAPI document. */
export function demoRoutes(): GatewayRoute[] {
  const both: GatewayRoute['credentials'] = ['jwt', 'api_key'];
  return [
    { method: 'GET', path: '/orders', scopes: ['orders:read'], roles: [], credentials: both },
    { method: 'POST', path: '/orders', scopes: ['orders:write'], roles: [], credentials: both },
    { method: 'POST', path: '/orders/import', scopes: ['orders:write'], roles: [], credentials: both },
    { method: 'GET', path: '/orders/:id', scopes: ['orders:read'], roles: [], credentials: both },
    { method: 'DELETE', path: '/orders/:id', scopes: ['orders:write'], roles: [], credentials: both },
    { method: 'GET', path: '/users/:userId/orders', scopes: ['orders:read'], roles: [], credentials: both },
    { method: 'GET', path: '/admin/orders', scopes: ['admin'], roles: ['admin'], credentials: ['jwt'] },
  ];
}

/**
 * Returns the gateway policy of the demo Orders API. The demo's per-user
 * listing trusts the `userId` in its path, so the gateway binds that
 * parameter to the caller's subject. Admins may read anyone's orders.
 */
export function demoOperations(): Record<string, OperationPolicy> {
  return {
    'GET /users/{userId}/orders': {
      scopes: [],
      roles: [],
      public: false,
      bindings: [{ in: 'path', name: 'userId', claim: 'sub', match: 'equals', bypassRoles: ['admin'] }],
    },
  };
}

/**
 * Moves the shorthand keys of `gateway` into `gateway.upstreams`, so that
 * the rest of Portcullis works with a list of upstreams only.
 *
 * `fileGateway` is the `gateway` mapping of the configuration file, and
 * `urlOverride` is the upstream URL from the environment or the command
 * line. They tell which shorthand keys the operator set, because the others
 * contain defaults. `demoDocument` is the path of the demo Orders API's
 * OpenAPI document. Returns one message per conflict.
 */
export function foldShorthandUpstream(
  gateway: GatewayConfig,
  fileGateway: Record<string, unknown>,
  urlOverride: string | undefined,
  demoDocument: string,
): string[] {
  const problems: string[] = [];

  if (gateway.upstreams.length > 0) {
    for (const key of SHORTHAND_KEYS) {
      // An upstream URL from the environment replaces the file's, so the conflict is reported once, for it.
      const overridden = key === 'upstreamUrl' && urlOverride !== undefined;
      if (fileGateway[key] !== undefined && !overridden) {
        problems.push(`gateway/${key}: cannot be combined with gateway/upstreams; set it on an entry of gateway/upstreams instead`);
      }
    }
    if (urlOverride !== undefined) {
      problems.push('gateway/upstreamUrl: cannot be combined with gateway/upstreams; set the url on an entry of gateway/upstreams instead');
    }
  } else {
    const url = gateway.upstreamUrl ?? null;
    const openapi = gateway.openapi ?? null;

    // The demo's binding applies while the demo's own operations are in
    // force. An operator who replaces them declares the policy as well.
    const demoDeclared = openapi === null ? fileGateway['routes'] === undefined : resolve(openapi) === demoDocument;

    gateway.upstreams = [
      {
        name: SHORTHAND_UPSTREAM_NAME,
        url,
        mountPath: gateway.mountPath ?? '/api',
        openapi,
        routes: gateway.routes ?? demoRoutes(),
        operations: url === null && demoDeclared ? demoOperations() : {},
        identityAssertion: true,
        dropRequestHeaders: gateway.dropRequestHeaders ?? [],
      },
    ];
  }

  for (const key of SHORTHAND_KEYS) {
    delete gateway[key];
  }
  return problems;
}

function segments(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

/** Tells whether one mount path equals the other or contains it as leading segments. */
function overlaps(first: string, second: string): boolean {
  const [shorter, longer] = [segments(first), segments(second)].sort((a, b) => a.length - b.length) as [string[], string[]];
  return shorter.every((segment, index) => longer[index] === segment);
}

function checkLifecycle(path: string, lifecycle: LifecyclePolicy, inherited: LifecyclePolicy): string[] {
  const deprecation = lifecycle.deprecation ?? inherited.deprecation;
  const sunset = lifecycle.sunset ?? inherited.sunset;

  // RFC 9745 section 2.1: a resource is deprecated no later than its sunset.
  if (deprecation !== undefined && sunset !== undefined && Date.parse(sunset) < Date.parse(deprecation)) {
    return [`${path}: the sunset (${sunset}) is earlier than the deprecation (${deprecation})`];
  }
  return [];
}

function checkOperation(path: string, operation: OperationPolicy, upstream: UpstreamConfig): string[] {
  const problems = checkLifecycle(path, operation, upstream);

  if (operation.public && (operation.scopes.length > 0 || operation.roles.length > 0 || operation.bindings.length > 0)) {
    problems.push(`${path}: a public operation has no caller, so it cannot require scopes, roles or bindings`);
  }

  operation.bindings.forEach((binding, index) => {
    const pointer = binding.name.startsWith('/');
    if (binding.in === 'body' && !pointer) {
      problems.push(`${path}/bindings/${index}/name: a body binding names a JSON Pointer to the member, such as '/${binding.name}'`);
    }
    if (binding.in !== 'body' && pointer) {
      problems.push(`${path}/bindings/${index}/name: '${binding.name}' is a JSON Pointer, which only a body binding takes; name the ${binding.in} parameter instead`);
    }
  });
  return problems;
}

/** Checks names, mount paths, dates and operation policies of the upstreams, returning one message per violation. */
export function checkUpstreams(upstreams: readonly UpstreamConfig[]): string[] {
  const problems: string[] = [];

  upstreams.forEach((upstream, index) => {
    const path = `gateway/upstreams/${index}`;

    if (upstreams.findIndex((other) => other.name === upstream.name) !== index) {
      problems.push(`${path}/name: '${upstream.name}' is already the name of another upstream`);
    }

    const clash = upstreams.findIndex((other) => overlaps(other.mountPath, upstream.mountPath));
    if (clash !== index) {
      problems.push(`${path}/mountPath: '${upstream.mountPath}' overlaps the mount path '${upstreams[clash]?.mountPath}' of upstream '${upstreams[clash]?.name}'`);
    }

    const reserved = RESERVED_PREFIXES.find((prefix) => overlaps(prefix, upstream.mountPath));
    if (reserved !== undefined) {
      problems.push(`${path}/mountPath: '${upstream.mountPath}' overlaps '${reserved}', which the authorization server serves`);
    }

    if (upstream.url === null && !upstream.identityAssertion) {
      problems.push(`${path}/identityAssertion: the demo Orders API accepts only signed identities; keep identityAssertion on, or set url to your own service`);
    }

    if (upstream.openapi === null && upstream.routes.length === 0) {
      problems.push(`${path}: declares no operations; set openapi to the upstream's OpenAPI document, or list routes`);
    }

    problems.push(...checkLifecycle(path, upstream, {}));
    for (const [key, operation] of Object.entries(upstream.operations)) {
      problems.push(...checkOperation(`${path}/operations/${key}`, operation, upstream));
    }
  });

  return problems;
}
