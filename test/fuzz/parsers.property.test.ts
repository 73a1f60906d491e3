import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { API_KEY_LENGTH, assembleApiKey, generateApiKey, parseApiKey } from '../../src/core/api-keys/format.js';
import { extractBearerToken } from '../../src/core/bearer.js';
import { checkRedirectUri } from '../../src/core/redirect-uri-rules.js';
import { OutboundClient } from '../../src/core/outbound/client.js';
import { classifyAddress } from '../../src/core/outbound/address-classifier.js';
import { OutboundError } from '../../src/core/outbound/errors.js';
import { fuzzRuns } from '../support/fuzz.js';

/** Parsers and guards that read attacker input, exercised without a server. */

const RUNS = fuzzRuns(300);

/** Characters that matter to URL, header and token parsers, mixed into otherwise random text. */
const TRICKY = ['.', '/', '\\', '@', ':', '%', '#', '?', '[', ']', '=', ' ', '\t', '\n', '\u0000', '\u200b', 'ı', 'Ａ', '_', '-', '~', '+'];

const trickyString = fc.string({ unit: fc.oneof(fc.constantFrom(...TRICKY), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 80 });

describe('bearer token extraction', () => {
  it('accepts only RFC 6750 token characters', () => {
    fc.assert(
      fc.property(fc.oneof(trickyString, trickyString.map((value) => `Bearer ${value}`), fc.string({ maxLength: 9000 }).map((value) => `Bearer ${value}`)), (header) => {
        const result = extractBearerToken(header);
        if (result.kind === 'token') {
          expect(result.token).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
          expect(result.token.length).toBeLessThanOrEqual(8192);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('API key parsing', () => {
  it('never throws and rejects every changed character', () => {
    const valid = generateApiKey('live').value;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: API_KEY_LENGTH - 1 }), fc.string({ minLength: 1, maxLength: 1 }), (index, replacement) => {
        fc.pre(valid[index] !== replacement);
        const mutated = `${valid.slice(0, index)}${replacement}${valid.slice(index + 1)}`;

        expect(parseApiKey(mutated).valid).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.oneof(trickyString, trickyString.map((value) => `pcs_live_${value}`)), (value) => {
        const result = parseApiKey(value);
        if (result.valid) {
          expect(value).toHaveLength(API_KEY_LENGTH);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts every assembled key', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9]{43}$/), (secret) => {
        const id = generateApiKey('test').keyId;
        expect(parseApiKey(assembleApiKey('test', id, secret))).toMatchObject({ valid: true, keyId: id });
      }),
      { numRuns: RUNS },
    );
  });
});

describe('redirect URI registration rules', () => {
  it('accepts only canonical URIs without userinfo', () => {
    const candidate = fc.oneof(
      trickyString,
      fc.webUrl({ withFragments: true, withQueryParameters: true }),
      trickyString.map((value) => `https://client.example.test/${value}`),
      trickyString.map((value) => `http://${value}/cb`),
    );

    fc.assert(
      fc.property(candidate, (uri) => {
        if (checkRedirectUri(uri) !== undefined) {
          return;
        }

        const parsed = new URL(uri);
        expect(parsed.href).toBe(uri);
        expect(parsed.username).toBe('');
        expect(parsed.password).toBe('');
        expect(parsed.hash).toBe('');
        expect(['https:', 'http:']).toContain(parsed.protocol);
        if (parsed.protocol === 'http:') {
          expect(['127.0.0.1', '[::1]', 'localhost']).toContain(parsed.hostname);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('outbound client with hostile DNS', () => {
  const internalAddress = fc.constantFrom(
    '127.0.0.1',
    '127.255.0.9',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    '::ffff:127.0.0.1',
    'fd00::1',
    'fe80::1',
    '64:ff9b::a00:1',
    '2002:7f00:1::',
  );

  it('never connects when any resolved address is internal', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.domain(),
        fc.array(internalAddress, { minLength: 1, maxLength: 3 }),
        fc.array(fc.constantFrom('8.8.8.8', '2606:4700::1111'), { maxLength: 2 }),
        async (host, internal, external) => {
          let connects = 0;
          const answers = [...external, ...internal];
          const client = new OutboundClient({}, {
            resolver: async () => answers,
            beforeConnect: () => {
              connects += 1;
              throw new Error('test stopped a connection');
            },
          });

          const error = await client.fetch(`https://${host}/`).catch((caught: unknown) => caught);

          expect(error).toBeInstanceOf(OutboundError);
          expect(connects).toBe(0);
          expect(internal.every((address) => classifyAddress(address)?.internal)).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('never connects to arbitrary URL text', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(trickyString, trickyString.map((value) => `https://${value}`), fc.webUrl()), async (url) => {
        let connects = 0;
        const client = new OutboundClient({}, {
          resolver: async () => ['127.0.0.1'],
          beforeConnect: () => {
            connects += 1;
            throw new Error('test stopped a connection');
          },
        });

        const error = await client.fetch(url).catch((caught: unknown) => caught);

        expect(error).toBeInstanceOf(OutboundError);
        expect(connects).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });
});
