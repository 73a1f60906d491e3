/**
 * Bounds on how long API keys live. A key without expiry is allowed, but a
 * key with one gets a lifetime that a person can still reason about, and a
 * rotated key keeps working only long enough for its callers to switch.
 */

/** Maximum lifetime of a key with an expiry, in seconds: 3,650 days. */
export const MAX_KEY_LIFETIME_SECONDS = 3650 * 86_400;

/** Maximum time a rotated key keeps working, in seconds: 90 days. */
export const MAX_ROTATION_GRACE_SECONDS = 90 * 86_400;
