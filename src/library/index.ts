/**
 * Portcullis as a library: the pieces of the gateway that a service can use
 * on its own. Framework adapters are in `portcullis/fastify` and
 * `portcullis/express`.
 */

export type { CredentialKind, Identity } from '../core/identity-headers.js';
export { IDENTITY_HEADERS } from '../core/identity-headers.js';
export {
  IDENTITY_ASSERTION_HEADER,
  IdentityAssertionVerifier,
  InvalidIdentityAssertionError,
  ReplayStoreUnavailableError,
  type AssertionReplayStore,
  type IdentityAssertionVerifierOptions,
  type VerifiedAssertion,
} from '../core/identity-assertion.js';
export { RedisAssertionReplayStore } from '../core/cache/redis-replay-store.js';
export { UnusableKeyError } from '../core/jwt-errors.js';
export {
  AccessTokenVerifier,
  InvalidAccessTokenError,
  type AccessTokenClaims,
  type AccessTokenVerifierOptions,
} from '../core/access-token-verifier.js';
export {
  PROBLEMS,
  PROBLEM_CONTENT_TYPE,
  ProblemError,
  problemType,
  toProblemDocument,
  type FieldError,
  type ProblemCode,
  type ProblemDocument,
  type ProblemOptions,
} from '../core/problem.js';
export { API_CONTENT_SECURITY_POLICY, securityHeaders, type SecurityHeaderOptions } from '../core/security-headers.js';
export { OutboundClient, type OutboundRequest, type OutboundResponse } from '../core/outbound/client.js';
export { OUTBOUND_ERROR_CODES, OutboundError, type OutboundErrorCode } from '../core/outbound/errors.js';
export type { AllowedHost, OutboundPolicy } from '../core/outbound/policy.js';
export { RateLimiter } from '../core/rate-limit/limiter.js';
export { MemoryRateLimitStore } from '../core/rate-limit/memory-store.js';
export { RedisRateLimitStore } from '../core/rate-limit/redis-store.js';
export type { RateLimitStore } from '../core/rate-limit/types.js';
export type { ApiKeyVerification } from '../api-keys/api-key-service.js';

export { openApiKeyStore, type ApiKeyStore, type ApiKeyStoreOptions } from './api-key-store.js';
export {
  Authenticator,
  type AccessTokenSettings,
  type Authentication,
  type AuthenticatorSettings,
  type CredentialRequest,
  type IdentityAssertionSettings,
  type KeySetLog,
} from './authenticator.js';
export { corsOptions, type CorsOptions, type CorsSettings } from './cors.js';
export { checkOwnership, requireOwned, type OwnershipResult, type RequireOwnedOptions, type ResourceLoader } from './ownership.js';
export { createRateLimiter, type LimitRule, type RateLimitSettings, type RateLimiterSettings } from './rate-limit.js';
export { KeySetUnavailableError, remoteJwks, type RemoteJwksOptions, type RemoteKeySet } from './remote-jwks.js';
export { RequestGuard, type GuardResult, type GuardSettings, type RouteAccess } from './request-guard.js';
