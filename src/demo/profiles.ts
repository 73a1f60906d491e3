import { randomBytes, scryptSync } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

import type { Identity } from '../core/identity-headers.js';
import { ProblemError } from '../core/problem.js';

/**
 * User profiles of the demo upstream, written the way careless services
 * are, to show what the gateway's OpenAPI checks stop. Without the gateway:
 *
 * - `GET /users/:userId/profile` returns the stored record whole, including
 *   `passwordHash`, `isStaff` and `internalRiskScore` (excessive data
 *   exposure, OWASP API3).
 * - `PATCH /users/:userId/profile` copies every stored field it finds in the
 *   body, so a caller can set their own `role` to `admin` (mass assignment,
 *   also API3). The service trusts that stored role for its ownership
 *   check, so the change lets the caller read and change every profile.
 *
 * The ownership check itself is sound: a caller reaches only their own
 * profile, unless the gateway's identity headers or the stored profile give
 * them the admin role. Profiles live in memory and are created on first access.
 */

/** A profile as this service stores it. */
export interface StoredProfile {
  userId: string;
  displayName: string;
  bio: string;
  role: string;
  updatedAt: string;
  /** Stands in for the credential column of a real user service: an scrypt hash of a random secret. */
  passwordHash: string;
  isStaff: boolean;
  internalRiskScore: number;
}

/** Hooks of the hosting app that establish the caller and check scopes. */
export interface ProfileRouteGuards {
  caller: (request: FastifyRequest) => Identity;
  read: (request: FastifyRequest) => Promise<void>;
  write: (request: FastifyRequest) => Promise<void>;
}

interface ProfileParams {
  userId: string;
}

const profileParamsSchema = {
  type: 'object',
  required: ['userId'],
  properties: { userId: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

/** Fields a PATCH may not touch even here, because they identify the record. */
const IMMUTABLE_FIELDS = new Set(['userId']);

function newProfile(userId: string): StoredProfile {
  const salt = randomBytes(16);
  const hash = scryptSync(randomBytes(32), salt, 32);
  return {
    userId,
    displayName: userId,
    bio: '',
    role: 'user',
    updatedAt: new Date().toISOString(),
    passwordHash: `scrypt$${salt.toString('base64url')}$${hash.toString('base64url')}`,
    isStaff: false,
    internalRiskScore: 0,
  };
}

function profileNotFound(userId: string): ProblemError {
  return new ProblemError('not_found', `No profile for user '${userId}' exists.`);
}

/** In-memory profiles, keyed by user id. */
class ProfileStore {
  readonly #profiles = new Map<string, StoredProfile>();

  /** Returns the caller's own profile, creating it on first use. */
  own(userId: string): StoredProfile {
    let profile = this.#profiles.get(userId);
    if (profile === undefined) {
      profile = newProfile(userId);
      this.#profiles.set(userId, profile);
    }
    return profile;
  }

  /**
   * Returns the profile `userId` if `caller` may reach it. Another user's
   * profile gets the same 404 as a missing one.
   */
  reachable(caller: Identity, userId: string): StoredProfile {
    if (userId === caller.subject) {
      return this.own(userId);
    }

    const callerIsAdmin = caller.roles.includes('admin') || this.#profiles.get(caller.subject)?.role === 'admin';
    const profile = this.#profiles.get(userId);
    if (!callerIsAdmin || profile === undefined) {
      throw profileNotFound(userId);
    }
    return profile;
  }
}

/** Copies each body property that names a stored field of the same JSON type; this is the mass assignment flaw. */
function applyPatch(profile: StoredProfile, body: unknown): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ProblemError('invalid_request', 'The request body must be a JSON object.');
  }

  const record = profile as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries(body)) {
    if (Object.hasOwn(record, name) && !IMMUTABLE_FIELDS.has(name) && typeof record[name] === typeof value) {
      record[name] = value;
    }
  }
  profile.updatedAt = new Date().toISOString();
}

/** Registers the profile routes on the demo Orders API. */
export function registerProfileRoutes(app: FastifyInstance, guards: ProfileRouteGuards): void {
  const store = new ProfileStore();

  app.get<{ Params: ProfileParams }>(
    '/users/:userId/profile',
    { schema: { params: profileParamsSchema }, onRequest: guards.read },
    async (request) => store.reachable(guards.caller(request), request.params.userId),
  );

  app.patch<{ Params: ProfileParams }>(
    '/users/:userId/profile',
    { schema: { params: profileParamsSchema }, onRequest: guards.write },
    async (request) => {
      const profile = store.reachable(guards.caller(request), request.params.userId);
      applyPatch(profile, request.body);
      return profile;
    },
  );
}
