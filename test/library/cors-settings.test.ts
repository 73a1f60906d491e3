import { describe, expect, it } from 'vitest';

import { corsOptions, type CorsSettings } from '../../src/library/cors.js';

function optionsFor(settings: Record<string, unknown>): () => unknown {
  return () => corsOptions(settings as unknown as CorsSettings);
}

describe('library CORS settings', () => {
  // A string was read as a list of its characters, and the error named the origin 'h'.
  it.each([['https://app.example.com'], [undefined], [{ origin: 'https://app.example.com' }]])('rejects origins %j', (origins) => {
    expect(optionsFor({ origins })).toThrow(RangeError);
    expect(optionsFor({ origins })).toThrow("cors.origins must be a list of origins such as ['https://app.example.com'], got");
  });

  // A string made every character an allowed request header.
  it.each([['x-api-key'], [['']], [[5]]])('rejects allowedHeaders %j', (allowedHeaders) => {
    const settings = { origins: ['https://app.example.com'], allowedHeaders };
    expect(optionsFor(settings)).toThrow(RangeError);
    expect(optionsFor(settings)).toThrow("cors.allowedHeaders must be a list of header names such as ['authorization', 'content-type'], got");
  });

  it('accepts listed origins and headers', () => {
    const options = corsOptions({ origins: ['https://app.example.com', 'http://127.0.0.1:5173'], allowedHeaders: ['authorization', 'x-api-key'] });
    expect(options.allowedHeaders).toEqual(['authorization', 'x-api-key']);
  });
});
