import { CONFIG_SCHEMA } from './schema.js';

/**
 * Returns the schema of the configuration file as published. The rules are
 * those of the validated configuration, except that objects drop their
 * `required` lists, because the file holds only what differs from the
 * defaults and is merged into them member by member. Array entries (a
 * route, a rate-limit rule) keep theirs: arrays replace the default whole,
 * so each entry must be complete.
 */
export function publishedConfigSchema(): Record<string, unknown> {
  const schema = relax(structuredClone(CONFIG_SCHEMA) as unknown as Record<string, unknown>, false);
  return {
    ...schema,
    $id: 'https://portcullis.invalid/schema/portcullis.schema.json',
    description: 'Configuration file of Portcullis (portcullis.yaml). Every option is optional; the README lists the defaults.',
  };
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
