import { readFile } from 'node:fs/promises';
import $RefParser from '@apidevtools/json-schema-ref-parser';
import { parse as parseYaml } from 'yaml';

import { OpenApiError } from './operations.js';

/**
 * Reads an OpenAPI document (YAML or JSON) and resolves its internal
 * `$ref`s. References to other files or URLs are refused: the gateway
 * fetches nothing while it starts. Circular schemas are refused too,
 * because their validators could not be compiled ahead of time.
 */
export async function loadOpenApiDocument(path: string): Promise<Record<string, unknown>> {
  let document: unknown;
  try {
    document = parseYaml(await readFile(path, 'utf8'), { maxAliasCount: 100 });
  } catch (error) {
    throw new OpenApiError(`${path}: cannot be read as YAML or JSON (${(error as Error).message})`);
  }

  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new OpenApiError(`${path}: is not an OpenAPI document`);
  }

  try {
    return (await $RefParser.dereference(document as Record<string, unknown>, {
      resolve: { file: false, http: false },
      dereference: { circular: false },
    })) as Record<string, unknown>;
  } catch (error) {
    throw new OpenApiError(`${path}: ${(error as Error).message}`);
  }
}
