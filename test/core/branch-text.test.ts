import { describe, expect, it } from 'vitest';

import { compileOperations, type CompiledOperation, type RequestParts } from '../../src/core/openapi/operations.js';

type Schema = Record<string, unknown>;

const INTEGER_OR_SHORT_TEXT = { anyOf: [{ type: 'integer', maximum: 5 }, { type: 'string', maxLength: 2 }] };

function compileOperation(operation: Schema, path = '/things', version = '3.1.0'): CompiledOperation {
  const document = { openapi: version, info: { title: 't', version: '1' }, paths: { [path]: { post: { responses: { '204': { description: 'ok' } }, ...operation } } } };
  const [compiled] = compileOperations(document);
  if (compiled === undefined) {
    throw new Error('no operation compiled');
  }
  return compiled;
}

function request(parts: Partial<RequestParts>): RequestParts {
  return { params: {}, query: {}, headers: {}, contentType: undefined, body: undefined, ...parts };
}

function withParameter(location: 'query' | 'path' | 'header', schema: Schema): CompiledOperation {
  const path = location === 'path' ? '/things/{p}' : '/things';
  return compileOperation({ parameters: [{ name: 'p', in: location, required: true, schema }] }, path);
}

function checkParameter(location: 'query' | 'path' | 'header', schema: Schema, text: string | string[]) {
  const operation = withParameter(location, schema);
  if (location === 'path') {
    return operation.validate(request({ params: { p: text as string } }));
  }
  return operation.validate(location === 'query' ? request({ query: { p: text } }) : request({ headers: { p: text } }));
}

function checkForm(schema: Schema, body: string) {
  const operation = compileOperation({ requestBody: { content: { 'application/x-www-form-urlencoded': { schema } } } });
  return operation.validate(request({ contentType: 'application/x-www-form-urlencoded', body: Buffer.from(body) }));
}

describe('branch coercion of parameter text', () => {
  it.each(['query', 'path', 'header'] as const)('rejects converted text in the %s', (location) => {
    for (const text of ['0x10', '1e1', '010', '0x3', '  4', '4.0']) {
      expect(checkParameter(location, INTEGER_OR_SHORT_TEXT, text), text).toMatchObject({ code: 'validation_failed' });
    }
    for (const text of ['3', '12', 'ab']) {
      expect(checkParameter(location, INTEGER_OR_SHORT_TEXT, text), text).toBeUndefined();
    }
  });

  it('names the parameter in branch errors', () => {
    const violation = checkParameter('query', INTEGER_OR_SHORT_TEXT, '0x3');

    expect(violation?.errors).toContainEqual({ pointer: '/query/p', detail: 'must be integer' });
    expect(violation?.errors?.map((error) => error.pointer)).not.toContain('/query');
  });

  it('checks each branch of oneOf on the text', () => {
    const schema = { oneOf: [{ type: 'integer', minimum: 1 }, { type: 'boolean', const: false }] };

    expect(checkParameter('query', schema, '0')).toMatchObject({ code: 'validation_failed' });
    expect(checkParameter('query', schema, 'false')).toBeUndefined();
    expect(checkParameter('query', schema, '7')).toBeUndefined();
  });

  it('checks allOf branches on the text', () => {
    const schema = { allOf: [{ type: 'number' }, { type: 'string', maxLength: 2 }] };

    expect(checkParameter('query', schema, '1e1')).toMatchObject({ code: 'validation_failed' });
    expect(checkParameter('query', schema, '10')).toBeUndefined();
  });

  it('checks keywords after branches on the text', () => {
    const schema = { maxLength: 2, anyOf: [{ type: 'integer' }, { type: 'string' }] };

    expect(checkParameter('query', schema, '100')).toMatchObject({ code: 'validation_failed' });
    expect(checkParameter('query', schema, '10')).toBeUndefined();
  });

  it('keeps the type of the enclosing schema', () => {
    const schema = { type: 'integer', anyOf: [{ maximum: 5 }, { multipleOf: 10 }] };

    expect(checkParameter('query', schema, '7')).toMatchObject({ code: 'validation_failed' });
    expect(checkParameter('query', schema, '20')).toBeUndefined();
    expect(checkParameter('query', schema, '4')).toBeUndefined();
  });

  it('checks each array item on the text', () => {
    const schema = { type: 'array', items: INTEGER_OR_SHORT_TEXT };

    expect(checkParameter('query', schema, ['1', '0x10'])).toMatchObject({ code: 'validation_failed' });
    expect(checkParameter('query', schema, ['1', 'ab'])).toBeUndefined();
  });

  it('checks form fields of object branches on the text', () => {
    const schema = {
      type: 'object',
      properties: { p: {} },
      anyOf: [
        { type: 'object', properties: { p: { type: 'integer', maximum: 5 } } },
        { type: 'object', properties: { p: { type: 'string', maxLength: 2 } } },
      ],
    };

    for (const text of ['0x10', '1e1', '010', '0x3']) {
      expect(checkForm(schema, `p=${text}`), text).toMatchObject({ code: 'validation_failed' });
    }
    expect(checkForm(schema, 'p=3')).toBeUndefined();
    expect(checkForm(schema, 'p=ab')).toBeUndefined();
  });

  it('checks a form field in overlapping schemas on the text', () => {
    const schema = { type: 'object', properties: { p: INTEGER_OR_SHORT_TEXT }, patternProperties: { '^p$': { type: 'string', maxLength: 3 } } };

    expect(checkForm(schema, 'p=0x10')).toMatchObject({ code: 'validation_failed' });
    expect(checkForm(schema, 'p=12')).toBeUndefined();
  });
});
