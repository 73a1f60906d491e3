/**
 * Names of the top-level members of a request body, in the formats that
 * web frameworks merge with path and query parameters. Laravel's
 * `$request->userId` reads a form or JSON body field before the route
 * parameter of that name, and ASP.NET Core's model binding reads form
 * fields before route values, so such a field can replace a parameter that
 * an object-level binding checked.
 */

import { mayBeReadAsJson, mediaType } from '../core/openapi/json-body.js';
import { decodeUtf8 } from '../core/openapi/utf8.js';

/** The `name` of each Content-Disposition line of a multipart body, quoted or not. */
const MULTIPART_NAME = /^content-disposition:[^\r\n]*;[ \t]*name[ \t]*=[ \t]*(?:"([^"\r\n]*)"|([^\s;"]+))/gim;

/** A run of letters, digits and the punctuation that parameter names use. */
const WORD = /[\p{L}\p{N}_.[\]$-]+/gu;

function jsonMemberNames(body: Buffer): string[] {
  const text = decodeUtf8(body) ?? body.toString('latin1');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Lenient parsers, such as Json.NET, accept single quotes and
    // comments, so every word of the text counts as a name.
    return text.match(WORD) ?? [];
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
}

/** Returns the field names of a form or multipart body, and no names for any other media type. */
export function formFieldNames(contentType: string | undefined, body: Buffer): string[] {
  const type = mediaType(contentType);
  // Names are added one at a time, because spreading a long list as
  // arguments would overflow the call stack.
  const names: string[] = [];
  if (type === 'application/x-www-form-urlencoded') {
    for (const name of new URLSearchParams(body.toString('utf8')).keys()) {
      names.push(name);
    }
  } else if (type === 'multipart/form-data') {
    for (const match of body.toString('latin1').matchAll(MULTIPART_NAME)) {
      names.push(match[1] ?? match[2] ?? '');
    }
  }
  return names;
}

/**
 * Returns the names of the top-level members of a form, multipart or JSON
 * body, or of every word of a JSON body that does not parse, and no names
 * for any other media type. A body that some servers read as a form and
 * others as JSON gets the names of both readings.
 */
export function bodyMemberNames(contentType: string | undefined, body: Buffer): string[] {
  const names = formFieldNames(contentType, body);
  // A form type with `/json` in a parameter is a form to some servers and JSON to Laravel.
  if (mayBeReadAsJson(contentType)) {
    for (const name of jsonMemberNames(body)) {
      names.push(name);
    }
  }
  return names;
}
