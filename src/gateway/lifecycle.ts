/**
 * Deprecation and sunset of an operation: the `Deprecation` header
 * (RFC 9745), the `Sunset` header (RFC 8594), their `Link` relations, and
 * 410 Gone once the sunset has passed.
 */

import { ProblemError } from '../core/problem.js';

/** When an operation is or was deprecated and when it stops working, with pages about both. */
export interface Lifecycle {
  deprecation?: Date;
  sunset?: Date;
  deprecationLink?: string;
  sunsetLink?: string;
}

/** The response headers that announce a lifecycle, computed once at start. */
export interface LifecycleHeaders {
  /** Headers of every response before the sunset. */
  active: Record<string, string>;
  /** Headers of the 410 response after the sunset. */
  retired: Record<string, string>;
}

/** Formats a date as an RFC 8941 sf-date: `@` and whole seconds since the epoch. */
function structuredDate(date: Date): string {
  return `@${Math.floor(date.getTime() / 1000)}`;
}

function linkHeader(links: Array<[string | undefined, string]>): Record<string, string> {
  const values = links.filter(([target]) => target !== undefined).map(([target, relation]) => `<${target}>; rel="${relation}"`);
  return values.length === 0 ? {} : { link: values.join(', ') };
}

/** Builds the headers of `lifecycle`; both sets are empty for an operation that is neither deprecated nor sunset. */
export function lifecycleHeaders(lifecycle: Lifecycle): LifecycleHeaders {
  // Date#toUTCString returns the IMF-fixdate form of an HTTP-date (RFC 9110 section 5.6.7).
  const sunset: Record<string, string> = lifecycle.sunset === undefined ? {} : { sunset: lifecycle.sunset.toUTCString() };
  const deprecation: Record<string, string> = lifecycle.deprecation === undefined ? {} : { deprecation: structuredDate(lifecycle.deprecation) };

  return {
    active: {
      ...deprecation,
      ...sunset,
      ...linkHeader([
        [lifecycle.deprecationLink, 'deprecation'],
        [lifecycle.sunsetLink, 'sunset'],
      ]),
    },
    retired: { ...sunset, ...linkHeader([[lifecycle.sunsetLink, 'sunset']]) },
  };
}

/**
 * Returns the headers to add to the response, or throws a 410 problem when
 * the sunset has passed, so that the request never reaches the upstream.
 */
export function checkLifecycle(lifecycle: Lifecycle, headers: LifecycleHeaders, now: Date): Record<string, string> {
  if (lifecycle.sunset !== undefined && now.getTime() >= lifecycle.sunset.getTime()) {
    throw new ProblemError('gone', `This operation was retired on ${lifecycle.sunset.toISOString()}.`, { headers: headers.retired });
  }

  return headers.active;
}
