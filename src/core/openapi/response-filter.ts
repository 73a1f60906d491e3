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
 *   its schema is marked through `allOf`, `anyOf` or `oneOf`, and when its
 *   value satisfies a `writeOnly` branch of an `anyOf` or `oneOf`. So is a
 *   property that a `writeOnly` schema under `patternProperties`,
 *   `additionalProperties` or `unevaluatedProperties` governs.
 * - An array item is removed by the same rules when its `items` (or
 *   `unevaluatedItems`) schema is `writeOnly`. The items after it move up,
 *   so validation of the result catches a broken `minItems`. An item at a
 *   `prefixItems` position cannot move, so the filter reports it as
 *   unremovable and the check fails.
 * - `allOf` branches all apply, so their properties are united. Of `anyOf`
 *   and `oneOf`, the branches that the value satisfies apply. When it
 *   satisfies none, those that it satisfies once filtered by the branch
 *   apply, and failing that all of them (validation then rejects it).
 *   `if`/`then`/`else` applies `then` or `else` by the same test.
 * - Validation tests the branches on the filtered value, so they are chosen
 *   again on the result until the choice holds for it. A value that fails
 *   a branch only for an undeclared member of a closed nested object thus
 *   keeps no property that only another branch declares.
 * - A value whose schemas declare nothing about objects (no `type: object`, no
 *   property keywords) is kept as it is: the document leaves it free-form.
 */

import { hasAccessAnnotation } from './annotations.js';
import { isJsonObject } from './json-object.js';

type Schema = Record<string, unknown>;

/** Tests whether `value` satisfies a branch schema of `anyOf`, `oneOf` or `if`. */
export type BranchTest = (branch: Schema, value: unknown) => boolean;

/** Decides which combinator branches apply to a value. */
interface BranchChooser {
  /** Tests the value as it is. */
  test: BranchTest;
  /** Tests the value once filtered by the branch alone. */
  testFiltered: BranchTest;
}

/** The filtered value and the properties removed from it. */
export interface FilterResult {
  value: unknown;
  /** JSON pointers (RFC 6901) of the first removed properties, for the log. */
  removed: string[];
  removedCount: number;
  /** JSON pointers of write-only items that a `prefixItems` position fixes, so removing them would move the items after them. */
  unremovable: string[];
}

/** Maximum number of removed pointers kept for the log; the filtering itself has no such limit. */
const MAX_REPORTED_REMOVALS = 20;

/**
 * Maximum number of times one value is filtered with branches chosen anew.
 * Each pass chooses the branches that the previous result satisfies.
 */
const MAX_BRANCH_PASSES = 4;

/**
 * Maximum number of branches tested on a value filtered by the branch, per
 * response. Each test filters a part of the body once more, and nested
 * combinators multiply them. Past the limit, a value that satisfies no
 * branch as it is gets all of them, and the passes of ResponseFilter.filter
 * narrow them to those that the result satisfies, if any.
 */
const MAX_FILTERED_BRANCH_TESTS = 100;

const OBJECT_KEYWORDS = ['properties', 'patternProperties', 'additionalProperties', 'unevaluatedProperties', 'required'];

/** Tells whether `schema` itself describes objects: it names the type `object` or has a property keyword. */
export function describesObjects(schema: Schema): boolean {
  const type = schema['type'];
  return type === 'object' || (Array.isArray(type) && type.includes('object')) || OBJECT_KEYWORDS.some((key) => schema[key] !== undefined);
}

function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** The schemas that apply to one value, and what they derive from them once that is needed. */
interface ApplicableSchemas {
  schemas: Schema[];
  /** Whether a combinator branch was chosen by testing the value, so the result cannot be reused for another value. */
  dependsOnValue: boolean;
  /** Whether any of the schemas describes objects, so an object value gets filtered. */
  describesObjects?: boolean;
  declaration?: ObjectDeclaration;
  /** The schemas of the array elements after the longest `prefixItems`. */
  itemSchemas?: ItemSchemas;
}

/** The schemas that govern array elements from `prefixLength` on. */
interface ItemSchemas {
  prefixLength: number;
  schemas: unknown[];
  /** Whether one of `schemas` is write-only or has a write-only branch, so an item may be removed. */
  mayHide: boolean;
}

/**
 * Collects the schemas that apply to `value`: the given ones and the
 * applicable branches of their combinators. Without `chooser`, no branch of
 * `anyOf`, `oneOf` or `if` applies.
 */
function applicableSchemas(schemas: readonly unknown[], value: unknown, chooser: BranchChooser | undefined): ApplicableSchemas {
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
        if (chooser !== undefined) {
          let satisfied = branches.filter((branch) => isJsonObject(branch) && chooser.test(branch, value));
          if (satisfied.length === 0) {
            satisfied = branches.filter((branch) => isJsonObject(branch) && chooser.testFiltered(branch, value));
          }
          pending.push(...(satisfied.length > 0 ? satisfied : branches));
        }
      }
    }

    if (isJsonObject(schema['if'])) {
      dependsOnValue = true;
      if (chooser !== undefined) {
        pending.push(chooser.test(schema['if'], value) ? schema['then'] : schema['else']);
      }
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

function sameSchemas(first: ApplicableSchemas, second: ApplicableSchemas): boolean {
  return first.schemas.length === second.schemas.length && first.schemas.every((schema, index) => schema === second.schemas[index]);
}

function resolveSchemas(schemas: readonly unknown[], value: unknown, chooser: BranchChooser): ApplicableSchemas {
  const single = schemas.length === 1 && isJsonObject(schemas[0]) ? schemas[0] : undefined;
  const cached = single === undefined ? undefined : staticApplicable.get(single);
  if (cached !== undefined) {
    return cached;
  }

  const resolved = applicableSchemas(schemas, value, chooser);
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
  /** Schemas of `patternProperties`; a `hidden` one (writeOnly or false) removes every property it matches. */
  patterns: Array<{ pattern: RegExp; schema: unknown; hidden: boolean }>;
  /** Schemas for undeclared properties; empty when they are not allowed or are writeOnly. */
  additional: unknown[];
  /** Properties removed when the `anyOf` or `oneOf` branches that their value satisfies include a writeOnly one. */
  hiddenWhenChosen: Set<string>;
  /** Whether a schema of `patternProperties` or for undeclared properties has such a branch, so any property may be removed that way. */
  unnamedHiddenWhenChosen: boolean;
}

/** Tells whether a property schema keeps its values out of responses: `false`, or marked writeOnly. */
function hidesValues(schema: unknown): boolean {
  return schema === false || hasAccessAnnotation(schema, 'writeOnly');
}

/**
 * Tells whether an item schema may keep some of its values out of
 * responses. `items: false` is left to validation, which rejects any item.
 */
function mayHideItems(schemas: readonly unknown[]): boolean {
  return schemas.some((schema) => hasAccessAnnotation(schema, 'writeOnly') || hasHidingAlternative(schema));
}

const compiledPatterns = new Map<string, RegExp>();

/** Returns the regular expression of a `patternProperties` name, compiled once; throws SyntaxError for an invalid one. */
export function compilePattern(source: string): RegExp {
  let pattern = compiledPatterns.get(source);
  if (pattern === undefined) {
    pattern = new RegExp(source, 'u');
    compiledPatterns.set(source, pattern);
  }
  return pattern;
}

/**
 * Tells whether a branch of an `anyOf` or `oneOf` in `schema`, or in its
 * `allOf` at any depth, hides its values (see hidesValues). A nullable
 * write-only property is written `anyOf: [{ $ref: Secret }, { type: 'null' }]`.
 */
export function hasHidingAlternative(schema: unknown, visited = new Set<object>()): boolean {
  if (!isJsonObject(schema) || visited.has(schema)) {
    return false;
  }
  visited.add(schema);

  for (const key of ['anyOf', 'oneOf']) {
    const branches = schema[key];
    if (Array.isArray(branches) && branches.some((branch) => hidesValues(branch) || hasHidingAlternative(branch, visited))) {
      return true;
    }
  }
  const allOf = schema['allOf'];
  return Array.isArray(allOf) && allOf.some((branch) => hasHidingAlternative(branch, visited));
}

function declarationOf(schemas: readonly Schema[]): ObjectDeclaration {
  const declaration: ObjectDeclaration = {
    properties: new Map(),
    hidden: new Set(),
    patterns: [],
    additional: [],
    hiddenWhenChosen: new Set(),
    unnamedHiddenWhenChosen: false,
  };

  for (const schema of schemas) {
    const properties = isJsonObject(schema['properties']) ? schema['properties'] : {};
    for (const [name, property] of Object.entries(properties)) {
      if (hidesValues(property)) {
        declaration.hidden.add(name);
      } else {
        declaration.properties.set(name, [...(declaration.properties.get(name) ?? []), property]);
      }
      if (hasHidingAlternative(property)) {
        declaration.hiddenWhenChosen.add(name);
      }
    }

    const patterns = isJsonObject(schema['patternProperties']) ? schema['patternProperties'] : {};
    for (const [source, property] of Object.entries(patterns)) {
      declaration.patterns.push({ pattern: compilePattern(source), schema: property, hidden: hidesValues(property) });
      declaration.unnamedHiddenWhenChosen ||= hasHidingAlternative(property);
    }

    for (const key of ['additionalProperties', 'unevaluatedProperties']) {
      const extra = schema[key];
      if (extra === true || (isJsonObject(extra) && !hidesValues(extra))) {
        declaration.additional.push(extra);
        declaration.unnamedHiddenWhenChosen ||= hasHidingAlternative(extra);
      }
    }
  }

  return declaration;
}

/**
 * Returns the schema of the elements after a schema's `prefixItems`: its
 * `items`, or else its `unevaluatedItems`, which then governs them.
 */
function restItemSchema(schema: Schema): unknown {
  return schema['items'] !== undefined ? schema['items'] : schema['unevaluatedItems'];
}

function itemSchemasOf(schemas: readonly Schema[]): ItemSchemas {
  let prefixLength = 0;
  const items: unknown[] = [];
  for (const schema of schemas) {
    if (Array.isArray(schema['prefixItems'])) {
      prefixLength = Math.max(prefixLength, schema['prefixItems'].length);
    }
    const rest = restItemSchema(schema);
    if (rest !== undefined) {
      items.push(rest);
    }
  }
  return { prefixLength, schemas: items, mayHide: mayHideItems(items) };
}

/**
 * Returns the schemas of the element at `index`, which is below the longest
 * `prefixItems`. Each schema gives its `prefixItems` entry, or its `items`
 * (or `unevaluatedItems`) when its own prefix is shorter.
 */
function prefixElementSchemas(schemas: readonly Schema[], index: number): unknown[] {
  const elementSchemas: unknown[] = [];
  for (const schema of schemas) {
    const prefix = Array.isArray(schema['prefixItems']) ? schema['prefixItems'] : [];
    if (index < prefix.length) {
      elementSchemas.push(prefix[index]);
    } else if (restItemSchema(schema) !== undefined) {
      elementSchemas.push(restItemSchema(schema));
    }
  }
  return elementSchemas;
}

class ResponseFilter {
  readonly removed: string[] = [];
  readonly unremovable: string[] = [];
  private removedCount = 0;
  /**
   * Reference tokens from the root to the value being filtered. The JSON
   * pointer of a removed property is built from them only when it is
   * reported, so filtering a body with nothing to remove builds no strings.
   */
  private readonly path: Array<string | number> = [];

  private readonly chooser: BranchChooser;

  /** `budget` counts the filtered branch tests left for the whole response, shared with nested filters. */
  constructor(
    private readonly test: BranchTest,
    private readonly budget: { remaining: number },
  ) {
    this.chooser = { test, testFiltered: (branch, value) => this.satisfiesOnceFiltered(branch, value) };
  }

  get count(): number {
    return this.removedCount;
  }

  filter(value: unknown, schemas: readonly unknown[]): unknown {
    if (!Array.isArray(value) && !isJsonObject(value)) {
      return value;
    }

    let applicable = resolveSchemas(schemas, value, this.chooser);
    const reportedBefore = this.removed.length;
    const unremovableBefore = this.unremovable.length;
    const countBefore = this.removedCount;
    let chosenFor: unknown = value;
    let result = this.filterWith(value, applicable);

    // The branches were chosen by `chosenFor`, but validation tests them on
    // the result. When filtering changed which branches the result
    // satisfies, the value is filtered again with those, until the choice
    // holds for the result it gives.
    for (let pass = 1; applicable.dependsOnValue && result !== chosenFor; pass += 1) {
      const again = applicableSchemas(schemas, result, pass < MAX_BRANCH_PASSES ? this.chooser : undefined);
      if (sameSchemas(again, applicable)) {
        break;
      }

      this.removed.length = reportedBefore;
      this.unremovable.length = unremovableBefore;
      this.removedCount = countBefore;
      applicable = again;
      // After the last pass no branch applies, so what only a branch
      // declares is removed and validation rejects a value that needs it.
      chosenFor = pass < MAX_BRANCH_PASSES ? result : undefined;
      result = this.filterWith(value, applicable);
    }
    return result;
  }

  private filterWith(value: unknown[] | Schema, applicable: ApplicableSchemas): unknown {
    return Array.isArray(value) ? this.filterArray(value, applicable) : this.filterObject(value, applicable);
  }

  private satisfiesOnceFiltered(branch: Schema, value: unknown): boolean {
    if (this.budget.remaining <= 0) {
      return false;
    }
    this.budget.remaining -= 1;
    return this.test(branch, new ResponseFilter(this.test, this.budget).filter(value, [branch]));
  }

  private filterArray(value: unknown[], applicable: ApplicableSchemas): unknown[] {
    applicable.itemSchemas ??= itemSchemasOf(applicable.schemas);
    const { prefixLength, schemas: itemSchemas, mayHide } = applicable.itemSchemas;
    // A copy is made only once an element changes, so a response with
    // nothing to remove costs no copies.
    let copy: unknown[] | undefined;

    for (let index = 0; index < value.length; index += 1) {
      const element = value[index];
      const isPrefix = index < prefixLength;
      const elementSchemas = isPrefix ? prefixElementSchemas(applicable.schemas, index) : itemSchemas;

      const elementMayHide = isPrefix ? mayHideItems(elementSchemas) : mayHide;
      if (elementMayHide && this.hidesItem(element, elementSchemas)) {
        this.recordRemoval(index);
        if (isPrefix) {
          this.unremovable.push(this.pointerTo(index));
        }
        copy ??= value.slice(0, index);
        continue;
      }

      this.path.push(index);
      const result = this.filter(element, elementSchemas);
      this.path.pop();

      if (copy === undefined && result !== element) {
        copy = value.slice(0, index);
      }
      copy?.push(result);
    }

    return copy ?? value;
  }

  private filterObject(value: Schema, applicable: ApplicableSchemas): Schema {
    applicable.describesObjects ??= applicable.schemas.some(describesObjects);
    if (!applicable.describesObjects) {
      return value;
    }

    applicable.declaration ??= declarationOf(applicable.schemas);
    const declaration = applicable.declaration;
    const names = Object.keys(value);
    // The entries of a copy, started once a property is removed or changed.
    let entries: Array<[string, unknown]> | undefined;

    for (let index = 0; index < names.length; index += 1) {
      const name = names[index]!;
      const property = value[name];
      const propertySchemas = this.schemasOf(name, declaration);
      const mayBeHidden = declaration.unnamedHiddenWhenChosen || declaration.hiddenWhenChosen.has(name);
      if (propertySchemas === undefined || (mayBeHidden && this.choosesHidingBranch(property, propertySchemas))) {
        this.recordRemoval(name);
        entries ??= this.entriesBefore(value, names, index);
        continue;
      }

      // Only objects and arrays can contain properties to remove.
      let filtered = property;
      if (property !== null && typeof property === 'object') {
        this.path.push(name);
        filtered = this.filter(property, propertySchemas);
        this.path.pop();
      }
      if (entries === undefined && filtered !== property) {
        entries = this.entriesBefore(value, names, index);
      }
      entries?.push([name, filtered]);
    }

    // fromEntries defines own properties, so no key can reach a prototype.
    // An unchanged object is returned itself.
    return entries === undefined ? value : Object.fromEntries(entries);
  }

  /** Tells whether an item schema is write-only, or the branches that `item` satisfies include a write-only one. */
  private hidesItem(item: unknown, schemas: readonly unknown[]): boolean {
    return schemas.some((schema) => hasAccessAnnotation(schema, 'writeOnly')) || this.choosesHidingBranch(item, schemas);
  }

  /** Tells whether the branches that `value` satisfies among those of `schemas` include one that hides its values. */
  private choosesHidingBranch(value: unknown, schemas: readonly unknown[]): boolean {
    return applicableSchemas(schemas, value, this.chooser).schemas.some(hidesValues);
  }

  /** Returns the entries of the properties before `end`, which were all kept unchanged. */
  private entriesBefore(value: Schema, names: readonly string[], end: number): Array<[string, unknown]> {
    return names.slice(0, end).map((name) => [name, value[name]]);
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

    const matching = declaration.patterns.filter((entry) => entry.pattern.test(name));
    if (matching.some((entry) => entry.hidden)) {
      return undefined;
    }
    if (declared !== undefined || matching.length > 0) {
      return [...(declared ?? []), ...matching.map((entry) => entry.schema)];
    }

    return declaration.additional.length > 0 ? declaration.additional : undefined;
  }

  /** Counts the removal of the property or item `name` of the current value and keeps its JSON pointer for the log. */
  private recordRemoval(name: string | number): void {
    this.removedCount += 1;
    if (this.removed.length < MAX_REPORTED_REMOVALS) {
      this.removed.push(this.pointerTo(name));
    }
  }

  /** Returns the JSON pointer of the member `name` of the current value. */
  private pointerTo(name: string | number): string {
    let pointer = '';
    for (const token of [...this.path, name]) {
      pointer += `/${typeof token === 'number' ? token : escapePointerToken(token)}`;
    }
    return pointer;
  }
}

/**
 * Removes undeclared and `writeOnly` properties and `writeOnly` array items from a parsed response
 * body. `schema` must be dereferenced; `test` decides which combinator
 * branches apply. The input is left untouched: the result shares the
 * objects and arrays in which nothing was removed, and is the input itself
 * when nothing was removed at all.
 */
export function filterResponse(value: unknown, schema: unknown, test: BranchTest): FilterResult {
  const filter = new ResponseFilter(test, { remaining: MAX_FILTERED_BRANCH_TESTS });
  const filtered = filter.filter(value, [schema]);
  return { value: filtered, removed: filter.removed, removedCount: filter.count, unremovable: filter.unremovable };
}
