/** Tells whether `value` is a JSON object, such as a schema or a document node, rather than null, an array or a scalar. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
