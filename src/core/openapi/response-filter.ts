/**
 * Projects an upstream response value onto its declared schema, so that only
 * what the API documents leaves the gateway (OWASP API3, excessive data
 * exposure).
 *
 * - An object property that no applicable schema declares is removed, at
 *   every depth, unless a schema allows extra properties with
 *   `additionalProperties` or `unevaluatedProperties` (`true` or a schema)
 *   or the name matches `patternProperties`.
 * - A `writeOnly` property is removed even when it is declared, also when
 *   its schema is marked through `allOf`, `anyOf` or `oneOf`.
 * - `allOf` branches all apply, so their properties are united. Of `anyOf`
 *   and `oneOf`, the branches that the value satisfies apply, or all of them
 *   when it satisfies none (validation then rejects it). `if`/`then`/`else`
 *   applies `then` or `else` by the same test.
 * - A value whose schemas declare nothing about objects (no `type: object`, no
 *   property keywords) is kept as it is: the document leaves it free-form.
 */

import { hasAccessAnnotation } from './annotations.js';
import { isJsonObject } from './json-object.js';

type Schema = Record<string, unknown>;

/** Tests whether `value` satisfies a branch schema of `anyOf`, `oneOf` or `if`. */
export type BranchTest = (branch: Schema, value: unknown) => boolean;

/** The filtered value and the properties removed from it. */
export interface FilterResult {
  value: unknown;
  /** JSON pointers (RFC 6901) of the first removed properties, for the log. */
  removed: string[];
  removedCount: number;
}

/** Maximum number of removed pointers kept for the log; the filtering itself has no such limit. */
const MAX_REPORTED_REMOVALS = 20;

const OBJECT_KEYWORDS = ['properties', 'patternProperties', 'additionalProperties', 'unevaluatedProperties', 'required'];

function describesObjects(schema: Schema): boolean {
  const type = schema['type'];
  return type === 'object' || (Array.isArray(type) && type.includes('object')) || OBJECT_KEYWORDS.some((key) => schema[key] !== undefined);
}

function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** The schemas that apply to one value, and what they declare about its properties once that is needed. */
interface ApplicableSchemas {
  schemas: Schema[];
  /** Whether a combinator branch was chosen by testing the value, so the result cannot be reused for another value. */
  dependsOnValue: boolean;
  declaration?: ObjectDeclaration;
}

/** Collects the schemas that apply to `value`: the given ones and the applicable branches of their combinators. */
function applicableSchemas(schemas: readonly unknown[], value: unknown, test: BranchTest): ApplicableSchemas {
  const result: Schema[] = [];
  const seen = new Set<Schema>();
  const pending = [...schemas];
  let dependsOnValue = false;

  while (pending.length > 0) {
    const schema = pending.pop();
    if (!isJsonObject(schema) || seen.has(schema)) {
      continue;
    }
    seen.add(schema);
    result.push(schema);

    if (Array.isArray(schema['allOf'])) {
      pending.push(...schema['allOf']);
    }

    for (const key of ['anyOf', 'oneOf']) {
      const branches = schema[key];
      if (Array.isArray(branches)) {
        dependsOnValue = true;
        const satisfied = branches.filter((branch) => isJsonObject(branch) && test(branch, value));
        pending.push(...(satisfied.length > 0 ? satisfied : branches));
      }
    }

    if (isJsonObject(schema['if'])) {
      dependsOnValue = true;
      pending.push(test(schema['if'], value) ? schema['then'] : schema['else']);
    }
  }

  return { schemas: result, dependsOnValue };
}

/**
 * Results of applicableSchemas for single schemas without value-dependent
 * branches, which most response schemas are. Items of a long array then
 * share one declaration instead of rebuilding it per item.
 */
const staticApplicable = new WeakMap<Schema, ApplicableSchemas>();

function resolveSchemas(schemas: readonly unknown[], value: unknown, test: BranchTest): ApplicableSchemas {
  const single = schemas.length === 1 && isJsonObject(schemas[0]) ? schemas[0] : undefined;
  const cached = single === undefined ? undefined : staticApplicable.get(single);
  if (cached !== undefined) {
    return cached;
  }

  const resolved = applicableSchemas(schemas, value, test);
  if (single !== undefined && !resolved.dependsOnValue) {
    staticApplicable.set(single, resolved);
  }
  return resolved;
}

/** The property declarations of the schemas that apply to one object. */
interface ObjectDeclaration {
  properties: Map<string, unknown[]>;
  /** Properties removed even though declared: `writeOnly` ones and those whose schema is `false`. */
  hidden: Set<string>;
  patterns: Array<{ pattern: RegExp; schema: unknown }>;
  /** Schemas for undeclared properties; empty when they are not allowed. */
  additional: unknown[];
}

const compiledPatterns = new Map<string, RegExp>();

function compilePattern(source: string): RegExp {
  let pattern = compiledPatterns.get(source);
  if (pattern === undefined) {
    pattern = new RegExp(source, 'u');
    compiledPatterns.set(source, pattern);
  }
  return pattern;
}

function declarationOf(schemas: readonly Schema[]): ObjectDeclaration {
  const declaration: ObjectDeclaration = { properties: new Map(), hidden: new Set(), patterns: [], additional: [] };

  for (const schema of schemas) {
    const properties = isJsonObject(schema['properties']) ? schema['properties'] : {};
    for (const [name, property] of Object.entries(properties)) {
      if (property === false || hasAccessAnnotation(property, 'writeOnly')) {
        declaration.hidden.add(name);
      } else {
        declaration.properties.set(name, [...(declaration.properties.get(name) ?? []), property]);
      }
    }

    const patterns = isJsonObject(schema['patternProperties']) ? schema['patternProperties'] : {};
    for (const [source, property] of Object.entries(patterns)) {
      declaration.patterns.push({ pattern: compilePattern(source), schema: property });
    }

    for (const key of ['additionalProperties', 'unevaluatedProperties']) {
      const extra = schema[key];
      if (extra === true || isJsonObject(extra)) {
        declaration.additional.push(extra);
      }
    }
  }

  return declaration;
}

class ResponseFilter {
  readonly removed: string[] = [];
  private removedCount = 0;

  constructor(private readonly test: BranchTest) {}

  get count(): number {
    return this.removedCount;
  }

  filter(value: unknown, schemas: readonly unknown[], pointer: string): unknown {
    if (Array.isArray(value)) {
      return this.filterArray(value, resolveSchemas(schemas, value, this.test), pointer);
    }
    if (isJsonObject(value)) {
      return this.filterObject(value, resolveSchemas(schemas, value, this.test), pointer);
    }
    return value;
  }

  private filterArray(value: unknown[], applicable: ApplicableSchemas, pointer: string): unknown[] {
    let changed = false;
    const filtered = value.map((element, index) => {
      const elementSchemas: unknown[] = [];
      for (const schema of applicable.schemas) {
        const prefix = Array.isArray(schema['prefixItems']) ? schema['prefixItems'] : [];
        if (index < prefix.length) {
          elementSchemas.push(prefix[index]);
        } else if (schema['items'] !== undefined) {
          elementSchemas.push(schema['items']);
        }
      }

      const result = this.filter(element, elementSchemas, `${pointer}/${index}`);
      changed ||= result !== element;
      return result;
    });

    // An unchanged array is returned itself, so a response with nothing to
    // remove costs no copies.
    return changed ? filtered : value;
  }

  private filterObject(value: Schema, applicable: ApplicableSchemas, pointer: string): Schema {
    if (!applicable.schemas.some(describesObjects)) {
      return value;
    }

    applicable.declaration ??= declarationOf(applicable.schemas);
    const declaration = applicable.declaration;
    const entries: Array<[string, unknown]> = [];
    let changed = false;

    for (const [name, property] of Object.entries(value)) {
      const propertySchemas = this.schemasOf(name, declaration);
      if (propertySchemas === undefined) {
        this.recordRemoval(`${pointer}/${escapePointerToken(name)}`);
        changed = true;
        continue;
      }

      // Only objects and arrays can contain properties to remove.
      const nested = property !== null && typeof property === 'object';
      const filtered = nested ? this.filter(property, propertySchemas, `${pointer}/${escapePointerToken(name)}`) : property;
      changed ||= filtered !== property;
      entries.push([name, filtered]);
    }

    // fromEntries defines own properties, so no key can reach a prototype.
    // An unchanged object is returned itself.
    return changed ? Object.fromEntries(entries) : value;
  }

  /** Returns the schemas that govern the property `name`, or undefined when it must be removed. */
  private schemasOf(name: string, declaration: ObjectDeclaration): unknown[] | undefined {
    if (declaration.hidden.has(name)) {
      return undefined;
    }

    const declared = declaration.properties.get(name);
    if (declaration.patterns.length === 0) {
      return declared ?? (declaration.additional.length > 0 ? declaration.additional : undefined);
    }

    const matching = declaration.patterns.filter((entry) => entry.pattern.test(name)).map((entry) => entry.schema);
    if (declared !== undefined || matching.length > 0) {
      return [...(declared ?? []), ...matching];
    }

    return declaration.additional.length > 0 ? declaration.additional : undefined;
  }

  private recordRemoval(pointer: string): void {
    this.removedCount += 1;
    if (this.removed.length < MAX_REPORTED_REMOVALS) {
      this.removed.push(pointer);
    }
  }
}

/**
 * Removes undeclared and `writeOnly` properties from a parsed response
 * body. `schema` must be dereferenced; `test` decides which combinator
 * branches apply. The input is left untouched: the result shares the
 * objects and arrays in which nothing was removed, and is the input itself
 * when nothing was removed at all.
 */
export function filterResponse(value: unknown, schema: unknown, test: BranchTest): FilterResult {
  const filter = new ResponseFilter(test);
  const filtered = filter.filter(value, [schema], '');
  return { value: filtered, removed: filter.removed, removedCount: filter.count };
}
