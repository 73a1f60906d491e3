/**
 * Settings that the orchestrator passes to the comparison servers in
 * environment variables, and the access token check they share.
 */
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';

/** Browser origin that every benchmark request sends and every CORS policy allows. */
export const BENCH_ORIGIN = 'http://app.bench.test';

/** Rate limit of the comparison stacks, per client address and minute: far above any load one machine can send. */
export const UNREACHABLE_LIMIT_PER_MINUTE = 1_000_000_000;

/** Returns the environment variable `name`, or exits with a message naming it. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    process.stderr.write(`missing environment variable ${name}\n`);
    process.exit(2);
  }
  return value;
}

/**
 * Builds the access token check of the comparison stacks: an ES256 JWT
 * verified with jose against a local JWK Set (the Portcullis signing keys),
 * with the issuer, audience, `typ` and an `orders:read` scope required, as
 * Portcullis checks its own tokens.
 */
export function accessTokenCheck(): (authorization: string | undefined) => Promise<boolean> {
  const jwks = createLocalJWKSet(JSON.parse(requireEnv('BENCH_JWKS')) as JSONWebKeySet);
  const issuer = requireEnv('BENCH_ISSUER');
  const audience = requireEnv('BENCH_AUDIENCE');

  return async (authorization) => {
    if (authorization === undefined || !authorization.startsWith('Bearer ')) {
      return false;
    }
    try {
      const { payload } = await jwtVerify(authorization.slice('Bearer '.length), jwks, {
        issuer,
        audience,
        algorithms: ['ES256'],
        typ: 'at+jwt',
        clockTolerance: 5,
      });
      return typeof payload['scope'] === 'string' && payload['scope'].split(' ').includes('orders:read');
    } catch {
      return false;
    }
  };
}

/** Writes the listening port as the JSON line that the orchestrator waits for. */
export function announcePort(port: number): void {
  process.stdout.write(`${JSON.stringify({ listening: port })}\n`);
}
