/**
 * Redaction of request targets before they reach a log line.
 *
 * Query strings carry credentials often enough (authorization codes on
 * redirects, `access_token` or API keys sent by mistake) that the log keeps
 * the value of a query parameter only when its name is on this allow-list.
 */

import { containsCredential, mayContainCredential, secretShape } from './credential-shapes.js';

const LOGGABLE_QUERY_PARAMETERS = new Set([
  'client_id',
  'response_type',
  'response_mode',
  'scope',
  'redirect_uri',
  'code_challenge_method',
  'prompt',
  'resource',
  'limit',
  'cursor',
  'error',
  'error_description',
  'iss',
]);

export const REDACTED = '[redacted]';

/**
 * Returns the path with every segment that has the shape of a credential
 * or contains one after other text, as sent or percent-decoded, replaced whole.
 */
export function redactPath(path: string): string {
  // Every logged request passes here, and most paths hold no credential.
  if (!mayContainCredential(path)) {
    return path;
  }
  return path
    .split('/')
    .map((segment) => (containsCredential(segment) || containsCredential(safeDecode(segment)) ? REDACTED : segment))
    .join('/');
}

/**
 * Returns the request target with every path segment that has the shape
 * of a credential and every non-allow-listed query value replaced. A
 * parameter whose name has the shape of a credential or contains one, or has
 * no `=` and is not allow-listed, is replaced whole, since a credential
 * pasted as `?<key>` is all name. An allow-listed value with the shape of
 * a credential or of a client secret, or containing a credential after other
 * text, is replaced too, such as a client secret sent as `client_id` by mistake.
 */
export function redactUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart === -1) {
    return redactPath(url);
  }

  const path = redactPath(url.slice(0, queryStart));
  const query = url.slice(queryStart + 1);
  const redacted = query
    .split('&')
    .map((pair) => {
      const separator = pair.indexOf('=');
      const name = separator === -1 ? pair : pair.slice(0, separator);
      const decodedName = safeDecode(name);
      if (pair === '') {
        return pair;
      }
      if (containsCredential(decodedName) || (separator === -1 && !LOGGABLE_QUERY_PARAMETERS.has(decodedName))) {
        return REDACTED;
      }
      const decodedValue = safeDecode(pair.slice(separator + 1));
      if (LOGGABLE_QUERY_PARAMETERS.has(decodedName) && secretShape(decodedValue) === undefined && !containsCredential(decodedValue)) {
        return pair;
      }
      return `${name}=${REDACTED}`;
    })
    .join('&');

  return `${path}?${redacted}`;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value.replaceAll('+', ' '));
  } catch {
    return value;
  }
}
