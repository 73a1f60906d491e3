import { describe, expect, it } from 'vitest';

import { OpenApiError, compileOperations } from '../../src/core/openapi/operations.js';
import type { ResponseCheck, ResponseRules } from '../../src/core/openapi/response-schema.js';

type Schema = Record<string, unknown>;

function compileResponses(responses: Schema, version = '3.1.0'): ResponseRules {
  const document = {
    openapi: version,
    info: { title: 't', version: '1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths: { '/things': { get: { responses } } },
  };
  const [operation] = compileOperations(document);
  if (operation === undefined) {
    throw new Error('no operation compiled');
  }
  return operation.responses;
}

/** Checks `value` against a 200 application/json response with `schema`. */
function check(schema: unknown, value: unknown, version?: string): ResponseCheck {
  const rule = compileResponses({ '200': { description: 'ok', content: { 'application/json': { schema } } } }, version).select(200, 'application/json');
  if (rule.kind !== 'json') {
    throw new Error(`expected a JSON rule, got ${rule.kind}`);
  }
  return rule.check(value);
}

const circle = { type: 'object', required: ['kind', 'radius'], properties: { kind: { const: 'circle' }, radius: { type: 'number' } } };
const square = { type: 'object', required: ['kind', 'side'], properties: { kind: { const: 'square' }, side: { type: 'number' } } };

describe('response filtering', () => {
  const page = {
    type: 'object',
    properties: {
      items: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, owner: { type: 'object', properties: { name: { type: 'string' } } } } } },
    },
  };

  it('returns a clean value itself', () => {
    const value = { items: [{ id: '1', owner: { name: 'a' } }, { id: '2', owner: { name: 'b' } }] };

    const result = check(page, value);

    expect(result.value).toBe(value);
    expect(result.removedCount).toBe(0);
  });

  it('copies only what changed', () => {
    const value = { items: [{ id: '1', owner: { name: 'a' } }, { id: '2', owner: { name: 'b', password: 'secret' } }] };
    const before = structuredClone(value);

    const result = check(page, value);
    const items = (result.value as typeof value).items;

    expect(result.value).not.toBe(value);
    expect(items[0]).toBe(value.items[0]);
    expect(items[1]).toEqual({ id: '2', owner: { name: 'b' } });
    expect(result.removed).toEqual(['/items/1/owner/password']);
    expect(value).toEqual(before);
  });

  it('unites allOf branches', () => {
    const schema = { allOf: [{ type: 'object', properties: { id: { type: 'string' } } }, { type: 'object', properties: { name: { type: 'string' } } }] };
    const result = check(schema, { id: '1', name: 'n', hidden: true });
    expect(result.value).toEqual({ id: '1', name: 'n' });
    expect(result.removed).toEqual(['/hidden']);
    expect(result.errors).toEqual([]);
  });

  it('applies the oneOf branch that matches', () => {
    const schema = { oneOf: [circle, square] };
    expect(check(schema, { kind: 'circle', radius: 2, side: 3, owner: 'x' }).value).toEqual({ kind: 'circle', radius: 2 });
    expect(check(schema, { kind: 'square', side: 3, radius: 2 }).value).toEqual({ kind: 'square', side: 3 });
  });

  it('rejects a value that matches no anyOf branch', () => {
    const result = check({ anyOf: [circle, square] }, { kind: 'triangle', radius: 1, secret: 's' });
    expect(result.value).toEqual({ kind: 'triangle', radius: 1 });
    expect(result.errors.length).toBeGreaterThan(0);
  });

  it('removes values of write-only alternatives', () => {
    const secret = { type: 'string', writeOnly: true };
    const schema = {
      type: 'object',
      properties: {
        id: { type: 'string' },
        password: { anyOf: [secret, { type: 'null' }] },
        pin: { oneOf: [{ type: 'null' }, { allOf: [{ type: 'integer', writeOnly: true }] }] },
      },
    };

    expect(check(schema, { id: 'a', password: 'hunter2', pin: 1234 }).value).toEqual({ id: 'a' });
    expect(check(schema, { id: 'a', password: null, pin: null }).value).toEqual({ id: 'a', password: null, pin: null });
    expect(check({ ...schema, required: ['id', 'password'] }, { id: 'a', password: 'hunter2' })).toMatchObject({ value: { id: 'a' }, errors: [] });
  });

  it('removes unnamed values of write-only alternatives', () => {
    const secret = { anyOf: [{ type: 'string', writeOnly: true }, { type: 'null' }] };
    const schema = { type: 'object', properties: { id: { type: 'string' } }, patternProperties: { '^pin_': secret }, additionalProperties: secret };

    expect(check(schema, { id: 'a', pin_card: '1234', token: 't', reset: null }).value).toEqual({ id: 'a', reset: null });
  });

  it('removes write-only array items', () => {
    const secret = { type: 'string', writeOnly: true };
    const schema = {
      type: 'object',
      properties: {
        tokens: { type: 'array', items: secret },
        codes: { type: 'array', items: { anyOf: [secret, { type: 'integer' }] } },
        nested: { type: 'array', items: { type: 'array', items: { allOf: [secret] } } },
      },
    };
    const result = check(schema, { tokens: ['t1', 't2'], codes: [1, 'c', 2], nested: [['n'], []] });

    expect(result.value).toEqual({ tokens: [], codes: [1, 2], nested: [[], []] });
    expect(result.removed).toEqual(['/tokens/0', '/tokens/1', '/codes/1', '/nested/0/0']);
    expect(result.removedCount).toBe(4);
    expect(result.errors).toEqual([]);
  });

  it('removes write-only items of a top-level array', () => {
    const result = check({ type: 'array', items: { oneOf: [{ type: 'string', writeOnly: true }, { type: 'object', properties: { id: { type: 'string' } } }] } }, ['s', { id: 'a', x: 1 }]);

    expect(result.value).toEqual([{ id: 'a' }]);
    expect(result.errors).toEqual([]);
  });

  it('rejects arrays invalid without write-only items', () => {
    const result = check({ type: 'array', minItems: 2, items: { anyOf: [{ type: 'string', writeOnly: true }, { type: 'integer' }] } }, [1, 's']);

    expect(result.value).toEqual([1]);
    expect(result.errors.length).toBeGreaterThan(0);
  });

  it('rejects write-only prefix items', () => {
    const schema = { type: 'array', prefixItems: [{ type: 'integer' }, { type: 'string', writeOnly: true }], items: { type: 'integer' } };
    const result = check(schema, [1, 's', 2]);

    expect(result.value).toEqual([1, 2]);
    expect(result.errors).toContainEqual({ pointer: '/body/1', detail: expect.stringContaining('write-only') });
    expect(check(schema, [1]).errors).toEqual([]);
  });

  describe('branches of a filtered value', () => {
    const address = { type: 'object', properties: { city: { type: 'string' } }, additionalProperties: false };
    const publicProfile = { type: 'object', required: ['kind'], properties: { kind: { const: 'public' }, name: { type: 'string' }, address } };
    const privateProfile = {
      type: 'object',
      required: ['kind'],
      properties: { kind: { const: 'private' }, name: { type: 'string' }, email: { type: 'string' }, address: { type: 'object', additionalProperties: { type: 'string' } } },
    };
    // The undeclared street fails the public branch until it is removed.
    const leaky = { kind: 'public', name: 'n', email: 'alice@example.com', address: { city: 'c', street: 's' } };

    it.each(['anyOf', 'oneOf'])('keeps only the %s branch the result satisfies', (key) => {
      const result = check({ [key]: [publicProfile, privateProfile] }, leaky);

      expect(result.value).toEqual({ kind: 'public', name: 'n', address: { city: 'c' } });
      expect(result.removed).toEqual(['/email', '/address/street']);
      expect(result.removedCount).toBe(2);
      expect(result.errors).toEqual([]);
    });

    it('keeps only then when the result satisfies if', () => {
      const schema = {
        type: 'object',
        properties: { kind: { type: 'string' } },
        if: { required: ['kind'], properties: { kind: { const: 'public' }, address } },
        then: { properties: { name: { type: 'string' }, address: { type: 'object', properties: { city: { type: 'string' } } } } },
        else: { properties: { name: { type: 'string' }, email: { type: 'string' }, address: { type: 'object', properties: { city: { type: 'string' } } } } },
      };

      const result = check(schema, leaky);

      expect(result.value).toEqual({ kind: 'public', name: 'n', address: { city: 'c' } });
      expect(result.errors).toEqual([]);
    });

    it('rejects a list past the filtered test limit', () => {
      const list = { type: 'array', items: { anyOf: [publicProfile, privateProfile] } };

      const few = check(list, Array.from({ length: 50 }, () => leaky));
      const many = check(list, Array.from({ length: 150 }, () => leaky));

      expect(few.errors).toEqual([]);
      expect(JSON.stringify(few.value)).not.toContain('alice@example.com');
      expect(many.errors.length).toBeGreaterThan(0);
    });

    it('keeps a private profile whole', () => {
      const value = { kind: 'private', name: 'n', email: 'alice@example.com', address: { city: 'c', street: 's' } };
      const result = check({ anyOf: [publicProfile, privateProfile] }, value);

      expect(result.value).toBe(value);
      expect(result.errors).toEqual([]);
    });
  });

  it('applies then or else', () => {
    const schema = {
      type: 'object',
      properties: { kind: { type: 'string' } },
      if: { properties: { kind: { const: 'circle' } } },
      then: { properties: { radius: { type: 'number' } } },
      else: { properties: { side: { type: 'number' } } },
    };
    expect(check(schema, { kind: 'circle', radius: 1, side: 2 }).value).toEqual({ kind: 'circle', radius: 1 });
    expect(check(schema, { kind: 'square', radius: 1, side: 2 }).value).toEqual({ kind: 'square', side: 2 });
  });

  it('filters array items and tuples', () => {
    const list = { type: 'array', items: { type: 'object', properties: { id: { type: 'string' } } } };
    expect(check(list, [{ id: '1', x: 1 }, { id: '2' }]).value).toEqual([{ id: '1' }, { id: '2' }]);

    const tuple = { type: 'array', prefixItems: [{ type: 'object', properties: { a: { type: 'number' } } }], items: { type: 'object', properties: { b: { type: 'number' } } } };
    const result = check(tuple, [{ a: 1, b: 2 }, { a: 1, b: 2 }]);
    expect(result.value).toEqual([{ a: 1 }, { b: 2 }]);
    expect(result.removed).toEqual(['/0/b', '/1/a']);
  });

  it('filters elements under unevaluatedItems', () => {
    const user = { type: 'object', properties: { name: { type: 'string' } } };

    const list = check({ type: 'array', unevaluatedItems: user }, [{ name: 'a', passwordHash: 'x' }]);
    const tuple = check({ type: 'array', prefixItems: [{ type: 'string' }], unevaluatedItems: user }, ['head', { name: 'b', passwordHash: 'y' }]);

    expect(list.value).toEqual([{ name: 'a' }]);
    expect(list.removed).toEqual(['/0/passwordHash']);
    expect(tuple.value).toEqual(['head', { name: 'b' }]);
    expect(tuple.removed).toEqual(['/1/passwordHash']);
    expect(tuple.errors).toEqual([]);
  });

  it('keeps what additionalProperties or patternProperties allow', () => {
    const schema = {
      type: 'object',
      properties: { id: { type: 'string' } },
      patternProperties: { '^x-': { type: 'string' } },
      additionalProperties: false,
    };
    expect(check(schema, { id: '1', 'x-trace': 't', other: 1 }).value).toEqual({ id: '1', 'x-trace': 't' });

    const open = { type: 'object', properties: { id: { type: 'string' } }, additionalProperties: { type: 'object', properties: { n: { type: 'number' } } } };
    expect(check(open, { id: '1', extra: { n: 1, m: 2 } }).value).toEqual({ id: '1', extra: { n: 1 } });
  });

  it('empties an object without declared properties', () => {
    expect(check({ type: 'object' }, { a: 1 }).value).toEqual({});
  });

  it('keeps a free-form value', () => {
    expect(check({}, { a: { b: 1 } }).value).toEqual({ a: { b: 1 } });
    expect(check(true, { a: 1 }).value).toEqual({ a: 1 });
  });

  it('removes writeOnly properties without requiring them', () => {
    const schema = { type: 'object', required: ['id', 'password'], properties: { id: { type: 'string' }, password: { type: 'string', writeOnly: true } } };
    const result = check(schema, { id: '1', password: 'p' });
    expect(result.value).toEqual({ id: '1' });
    expect(result.errors).toEqual([]);
  });

  it('removes writeOnly properties behind composition', () => {
    const secret = { type: 'string', writeOnly: true };
    const schema = {
      type: 'object',
      required: ['id', 'password', 'pin'],
      properties: {
        id: { type: 'string' },
        password: { allOf: [secret], description: 'Set on sign-up.' },
        pin: { oneOf: [secret, { ...secret, pattern: '^[0-9]+$' }] },
      },
    };
    const result = check(schema, { id: '1', password: 'p', pin: '1234' });
    expect(result.value).toEqual({ id: '1' });
    expect(result.removed).toEqual(['/password', '/pin']);
    expect(result.errors).toEqual([]);
  });

  it('removes writeOnly values of unnamed properties', () => {
    const secret = { type: 'string', writeOnly: true };
    const schema = {
      type: 'object',
      properties: {
        id: { type: 'string' },
        keys: { type: 'object', properties: { label: { type: 'string' } }, additionalProperties: secret },
        flags: { type: 'object', patternProperties: { '^secret': { allOf: [secret] }, '^x-': { type: 'string' } }, additionalProperties: true },
        notes: { type: 'object', unevaluatedProperties: secret },
      },
    };
    const value = { id: '1', keys: { label: 'l', github: 'ghp_x' }, flags: { 'x-a': 'a', secretToken: 't', other: 'o' }, notes: { pin: '1234' } };
    const result = check(schema, value);

    expect(result.value).toEqual({ id: '1', keys: { label: 'l' }, flags: { 'x-a': 'a', other: 'o' }, notes: {} });
    expect(result.removed).toEqual(['/keys/github', '/flags/secretToken', '/notes/pin']);
    expect(result.errors).toEqual([]);
  });

  it('accepts nullable in 3.0 documents', () => {
    const schema = { type: 'object', nullable: true, properties: { id: { type: 'string' } } };
    expect(check(schema, null, '3.0.3').errors).toEqual([]);
  });

  it('reports violations with pointers', () => {
    const schema = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } };
    expect(check(schema, {}).errors).toEqual([{ pointer: '/body/id', detail: "required property 'id' is missing" }]);
  });

  it('does not change the input', () => {
    const input = { id: '1', hidden: true };
    check({ type: 'object', properties: { id: { type: 'string' } } }, input);
    expect(input).toEqual({ id: '1', hidden: true });
  });
});

describe('response selection', () => {
  const json = { 'application/json': { schema: { type: 'object' } } };

  it('prefers the exact status, then the range, then default', () => {
    const rules = compileResponses({ '200': { description: 'a', content: json }, '2XX': { description: 'b' }, default: { description: 'c', content: { 'text/plain': {} } } });
    expect(rules.select(200, 'application/json').kind).toBe('json');
    expect(rules.select(201, 'application/json').kind).toBe('empty');
    expect(rules.select(500, 'text/plain').kind).toBe('unchecked');
  });

  it('declares only exact statuses', () => {
    const rules = compileResponses({ '200': { description: 'a', content: json }, '2XX': { description: 'b' }, default: { description: 'c' } });
    expect(rules.declaresStatus(200)).toBe(true);
    expect(rules.declaresStatus(206)).toBe(false);
    expect(rules.declaresStatus(500)).toBe(false);
  });

  it('selects a repeated media type again', () => {
    const rules = compileResponses({ '200': { description: 'a', content: json } });

    const first = rules.select(200, 'application/json');
    const again = rules.select(200, 'application/json');

    expect(first.kind).toBe('json');
    expect(again).toEqual(first);
    expect(rules.select(200, 'text/html').kind).toBe('undeclared_media_type');
    expect(rules.select(200, 'text/html').kind).toBe('undeclared_media_type');
  });

  it('selects past the memo bound', () => {
    const rules = compileResponses({ '200': { description: 'a', content: json } });

    for (let index = 0; index < 40; index += 1) {
      expect(rules.select(200, `application/json; v=${index}`).kind).toBe('json');
      expect(rules.select(200, `text/x-${index}`).kind).toBe('undeclared_media_type');
    }
    const long = `application/json; comment=${'x'.repeat(200)}`;
    expect(compileResponses({ '200': { description: 'a', content: json } }).select(200, long).kind).toBe('json');
  });

  it('reports undeclared statuses and media types', () => {
    const rules = compileResponses({ '200': { description: 'a', content: json } });
    expect(rules.select(201, 'application/json')).toEqual({ kind: 'undeclared' });
    expect(rules.select(200, 'text/html')).toEqual({ kind: 'undeclared_media_type', declared: ['application/json'] });
    expect(rules.select(200, undefined).kind).toBe('undeclared_media_type');
  });

  it('matches media type parameters and ranges', () => {
    const rules = compileResponses({ '200': { description: 'a', content: { 'application/*': { schema: { type: 'object' } } } } });
    expect(rules.select(200, 'Application/Problem+JSON; charset=utf-8').kind).toBe('json');
    expect(rules.select(200, 'application/xml').kind).toBe('unfilterable_media_type');
    expect(compileResponses({ '200': { description: 'a', content: json } }).select(200, 'application/json; charset=utf-8').kind).toBe('json');
  });

  it('matches keys with media type parameters', () => {
    const account = { type: 'object', properties: { id: { type: 'string' }, password: { type: 'string', writeOnly: true } } };
    const rules = compileResponses({ '200': { description: 'a', content: { 'application/json;charset=UTF-8': { schema: account } } } });
    const rule = rules.select(200, 'application/json;charset=UTF-8');

    expect(rule.kind).toBe('json');
    expect(rule.kind === 'json' && rule.check({ id: 'a', password: 'p' }).value).toEqual({ id: 'a' });
    expect(rules.select(200, 'application/json').kind).toBe('json');
    expect(rules.select(200, 'text/html')).toEqual({ kind: 'undeclared_media_type', declared: ['application/json'] });
  });

  it('rejects a media type declared twice', () => {
    const content = { 'application/json': { schema: { type: 'object' } }, 'Application/JSON; charset=utf-8': { schema: { type: 'array' } } };
    expect(() => compileResponses({ '200': { description: 'a', content } })).toThrow(/response 200 declares the media type application\/json twice/);
  });

  it('refuses unfilterable non-JSON objects', () => {
    const widget = { type: 'object', properties: { id: { type: 'string' } } };
    const rules = compileResponses({
      '200': { description: 'a', content: { '*/*': { schema: widget } } },
      '201': { description: 'b', content: { 'application/xml': { schema: { type: 'array', items: { allOf: [widget] } } } } },
      '202': { description: 'c', content: { '*/*': { schema: { type: 'array', items: { type: 'string' } } } } },
      '203': { description: 'd', content: { '*/*': { schema: {} } } },
    });

    expect(rules.select(200, 'application/json').kind).toBe('json');
    expect(rules.select(200, 'application/xml').kind).toBe('unfilterable_media_type');
    expect(rules.select(200, 'text/json').kind).toBe('unfilterable_media_type');
    expect(rules.select(201, 'application/xml').kind).toBe('unfilterable_media_type');
    expect(rules.select(202, 'text/csv').kind).toBe('unchecked');
    expect(rules.select(203, 'text/html').kind).toBe('unchecked');
  });

  it('refuses unfilterable non-JSON write-only items', () => {
    const secret = { type: 'string', writeOnly: true };
    const rules = compileResponses({
      '200': { description: 'a', content: { '*/*': { schema: { type: 'array', items: secret } } } },
      '201': { description: 'b', content: { 'text/csv': { schema: { type: 'array', items: { anyOf: [secret, { type: 'integer' }] } } } } },
    });

    expect(rules.select(200, 'text/csv').kind).toBe('unfilterable_media_type');
    expect(rules.select(201, 'text/csv').kind).toBe('unfilterable_media_type');
  });

  it('rejects an invalid response key', () => {
    expect(() => compileResponses({ '20X': { description: 'a' } })).toThrow(OpenApiError);
  });
});
