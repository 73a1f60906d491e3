import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { fuzzRuns, timeoutForRequests } from '../support/fuzz.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Generated requests for the demo operations, sent through the gateway that
 * enforces openapi/demo-orders.yaml. Valid requests must reach the upstream
 * and succeed. Invalid ones must stop at the gateway with a 400 that points
 * at the field. No request may produce a 5xx.
 *
 * `FUZZ_RUNS` raises the number of generated cases (`npm run fuzz`).
 */
const RUNS = fuzzRuns(25);
const JSON_HEADERS = { 'content-type': 'application/json' };
const PROBLEM_TYPE = 'application/problem+json';

interface Problem {
  code: string;
  errors?: Array<{ pointer: string; detail: string }>;
}

const item = fc.string({ unit: 'binary', minLength: 1, maxLength: 100 });
const quantity = fc.integer({ min: 1, max: 1000 });
const validOrder = fc.record({ item, quantity });

const READ_ONLY = ['id', 'status', 'owner', 'createdAt'];
const DECLARED = new Set(['item', 'quantity', ...READ_ONLY]);

// The gateway rejects a __proto__ key, and a constructor key that contains a
// prototype, anywhere in a body as invalid JSON before validation. The
// bodies that test validation leave both names out.
const PROTOTYPE_KEYS = ['__proto__', 'constructor'];
const undeclaredName = fc.string({ minLength: 1, maxLength: 20 }).filter((name) => !DECLARED.has(name) && !PROTOTYPE_KEYS.includes(name));
const jsonValue = fc.jsonValue().filter((value) => !PROTOTYPE_KEYS.some((key) => JSON.stringify(value).includes(`"${key}"`)));

/** Bodies that break the schema in one known way each, with the pointer the gateway must name. */
const invalidOrder: fc.Arbitrary<{ body: unknown; pointer: string }> = fc.oneof(
  validOrder.map(({ quantity: q }) => ({ body: { quantity: q }, pointer: '/body/item' })),
  fc.record({ item, quantity: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 1001 })) }).map((body) => ({ body, pointer: '/body/quantity' })),
  fc.record({ item, quantity: fc.oneof(fc.string(), fc.double({ noInteger: true }), fc.boolean(), fc.constant(null)) }).map((body) => ({ body, pointer: '/body/quantity' })),
  fc.record({ item: fc.string({ minLength: 101, maxLength: 300 }), quantity }).map((body) => ({ body, pointer: '/body/item' })),
  fc.record({ item: fc.constant(''), quantity }).map((body) => ({ body, pointer: '/body/item' })),
  fc.tuple(validOrder, fc.constantFrom(...READ_ONLY), jsonValue).map(([order, name, value]) => ({ body: { ...order, [name]: value }, pointer: `/body/${name}` })),
  fc.tuple(validOrder, undeclaredName, jsonValue).map(([order, name, value]) => ({ body: { ...order, [name]: value }, pointer: `/body/${escapePointer(name)}` })),
  fc.oneof(fc.array(jsonValue, { maxLength: 3 }), fc.string(), fc.integer(), fc.constant(null)).map((body) => ({ body, pointer: '/body' })),
);

function escapePointer(name: string): string {
  return name.replaceAll('~', '~0').replaceAll('/', '~1');
}

// Round-trips send three requests per case, and the other properties run twice the cases.
describe('generated demo requests', { timeout: timeoutForRequests(RUNS * 3) }, () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    // Lifts the limits so that every generated request meets validation, not a 429.
    const config = await writeConfigFile({
      rateLimit: {
        global: { name: 'global', key: ['ip'], limit: 1_000_000, period: '1s' },
        signIn: { name: 'sign-in', key: ['ip'], limit: 100_000, period: '1s' },
        flows: [{ name: 'order-creation', method: 'POST', path: '/orders', key: ['sub'], limit: 1_000_000, period: '1s', onStoreFailure: 'closed' }],
      },
    });
    server = await startTestServer({ config });
    token = (await obtainTokens(server, await createUser(server, 'generated_orders'))).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
  });

  async function placeOrder(body: string): Promise<Response> {
    return callApi(server, '/orders', token, { method: 'POST', headers: JSON_HEADERS, body });
  }

  it('round-trips valid orders', async () => {
    await fc.assert(
      fc.asyncProperty(validOrder, async (order) => {
        const created = await placeOrder(JSON.stringify(order));
        expect(created.status).toBe(201);
        const stored = (await created.json()) as { id: string; item: string; quantity: number };
        expect({ item: stored.item, quantity: stored.quantity }).toEqual(order);

        const read = await callApi(server, `/orders/${encodeURIComponent(stored.id)}`, token);
        expect(read.status).toBe(200);

        const deleted = await callApi(server, `/orders/${encodeURIComponent(stored.id)}`, token, { method: 'DELETE' });
        expect(deleted.status).toBe(204);
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects invalid orders by field', async () => {
    await fc.assert(
      fc.asyncProperty(invalidOrder, async ({ body, pointer }) => {
        const response = await placeOrder(JSON.stringify(body));
        expect(response.status).toBe(400);
        expect(response.headers.get('content-type')).toContain(PROBLEM_TYPE);

        const problem = (await response.json()) as Problem;
        expect(problem.code).toBe('validation_failed');
        expect(problem.errors?.map((error) => error.pointer)).toContain(pointer);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('never fails on any body', async () => {
    const anyBody = fc.oneof(
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.constantFrom('{"item":"a","quantity":1,"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '{"item":"a","item":"b","quantity":1}'),
    );
    const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1');

    await fc.assert(
      fc.asyncProperty(anyBody, contentType, async (body, type) => {
        const response = await callApi(server, '/orders', token, { method: 'POST', headers: { 'content-type': type }, body });
        expect(response.status).toBeLessThan(500);
        if (response.status !== 201) {
          expect(response.status).toBeGreaterThanOrEqual(400);
          expect(response.headers.get('content-type')).toContain(PROBLEM_TYPE);
        }
        await response.body?.cancel();
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('checks the listing limit', async () => {
    const limit = fc.oneof(
      fc.integer({ min: 1, max: 100 }).map((value) => ({ value: String(value), valid: true })),
      fc.integer({ min: -1000, max: 0 }).map((value) => ({ value: String(value), valid: false })),
      fc.integer({ min: 101 }).map((value) => ({ value: String(value), valid: false })),
      fc.string({ minLength: 1, maxLength: 10 }).filter((value) => !/^\s*\+?\d+\s*$/.test(value)).map((value) => ({ value, valid: false })),
    );

    await fc.assert(
      fc.asyncProperty(limit, async ({ value, valid }) => {
        const response = await callApi(server, `/orders?limit=${encodeURIComponent(value)}`, token);
        expect(response.status).toBe(valid ? 200 : 400);
        if (!valid) {
          const problem = (await response.json()) as Problem;
          expect(problem.errors?.map((error) => error.pointer)).toContain('/query/limit');
        } else {
          await response.body?.cancel();
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('never fails on ids or cursors', async () => {
    const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 120 });

    await fc.assert(
      fc.asyncProperty(text, text, async (id, cursor) => {
        const order = await callApi(server, `/orders/${encodeURIComponent(id)}`, token);
        expect([400, 404]).toContain(order.status);
        expect(order.headers.get('content-type')).toContain(PROBLEM_TYPE);
        await order.body?.cancel();

        const page = await callApi(server, `/orders?cursor=${encodeURIComponent(cursor)}`, token);
        expect(page.status).toBeLessThan(500);
        await page.body?.cancel();
      }),
      { numRuns: RUNS * 2 },
    );
  });
});
