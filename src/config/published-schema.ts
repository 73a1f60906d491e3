import { configDefaults, DEFAULT_PORT } from './load.js';
import { CONFIG_SCHEMA } from './schema.js';

/**
 * Options whose default depends on other options (the port, the upstreams)
 * or on where Portcullis is installed, so the schema names no default.
 */
const DERIVED_DEFAULTS = new Set(['issuer', 'audience', 'gateway.openapi']);

/**
 * Returns the schema of the configuration file as published. The rules are
 * those of the validated configuration, except that objects drop their
 * `required` lists, because the file holds only what differs from the
 * defaults and is merged into them member by member. Array entries (a
 * route, a rate-limit rule) keep theirs: arrays replace the default whole,
 * so each entry must be complete.
 */
export function publishedConfigSchema(): Record<string, unknown> {
  const relaxed = relax(structuredClone(CONFIG_SCHEMA) as unknown as Record<string, unknown>, false);
  const defaults = configDefaults(DEFAULT_PORT, `http://127.0.0.1:${DEFAULT_PORT}`, true);
  const schema = withDefaults(relaxed, defaults, '');
  return {
    ...schema,
    $id: 'https://portcullis.invalid/schema/portcullis.schema.json',
    description:
      'Configuration file of Portcullis (portcullis.yaml). Every option is optional. An option left out takes the value of its `default` keyword; ' +
      'the defaults of issuer, audience, lists and gateway.openapi are in the README.',
  };
}

/**
 * Adds a `default` keyword to each option whose default is a string, number,
 * boolean or null, so that editors can show it. Lists are left out, because
 * a list in the file replaces the default one whole.
 */
function withDefaults(node: Record<string, unknown>, value: unknown, path: string): Record<string, unknown> {
  const properties = node['properties'];
  if (isPlainObject(properties) && isPlainObject(value)) {
    const withChildDefaults: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(properties)) {
      const childPath = path === '' ? key : `${path}.${key}`;
      withChildDefaults[key] = isPlainObject(child) ? withDefaults(child, value[key], childPath) : child;
    }
    return { ...node, properties: withChildDefaults };
  }

  const isScalar = value === null || ['string', 'number', 'boolean'].includes(typeof value);
  if (isScalar && node['default'] === undefined && !DERIVED_DEFAULTS.has(path)) {
    return { ...node, default: value };
  }
  return node;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function relax(node: Record<string, unknown>, insideArrayItem: boolean): Record<string, unknown> {
  const result: Record<string, unknown> = {};

  for (const [key, value] of Object.entries(node)) {
    if (key === 'required' && !insideArrayItem) {
      continue;
    }
    result[key] = isPlainObject(value) ? relax(value, insideArrayItem || key === 'items') : value;
  }

  return result;
}
