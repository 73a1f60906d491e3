import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import $RefParser from '@apidevtools/json-schema-ref-parser';
import { YAMLParseError, parse as parseYaml } from 'yaml';

import { OpenApiError } from './operations.js';

/**
 * Reads an OpenAPI document (YAML or JSON) and resolves its internal
 * `$ref`s. References to other files or URLs are refused: the gateway
 * fetches nothing while it starts. Circular schemas are refused too,
 * because their validators could not be compiled ahead of time.
 */
export async function loadOpenApiDocument(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new OpenApiError(unreadableDocument(path, error as NodeJS.ErrnoException));
  }

  let document: unknown;
  try {
    document = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new OpenApiError(`${path}: is not valid YAML or JSON${describeYamlPosition(error)}`);
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

/**
 * Builds the message for a document that cannot be read. A missing one also
 * gets the absolute path that was tried, because its path may have been
 * written relative to the configuration file.
 */
function unreadableDocument(path: string, error: NodeJS.ErrnoException): string {
  if (error.code !== 'ENOENT') {
    return `${path}: cannot be read (${error.code ?? 'error'})`;
  }
  if (isAbsolute(path)) {
    return `${path}: does not exist`;
  }
  return `${path}: does not exist at ${resolve(path)}; a relative path is read from the working directory, not from the configuration file, so give an absolute path or start Portcullis in the directory the path is relative to`;
}

/**
 * Returns where a YAML parse error occurred, as " at line L, column C". The
 * parser's own message quotes the offending line, which stays out of the
 * message because a mistyped path may point at a key file.
 */
function describeYamlPosition(error: unknown): string {
  if (!(error instanceof YAMLParseError) || error.linePos === undefined) {
    return '';
  }
  const [start] = error.linePos;
  return ` at line ${start.line}, column ${start.col}`;
}
