/**
 * The page of one order that the benchmark upstream returns for
 * `GET /orders`, shaped as the demo OpenAPI document declares it, so that
 * Portcullis's response check passes it through unchanged.
 */
export const ORDER_BODY = JSON.stringify({
  items: [
    {
      id: '0f8b6a52-3c1e-4d7a-9b2e-5a6c7d8e9f01',
      item: 'fountain pen, blue ink',
      quantity: 2,
      status: 'placed',
      owner: '6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
      createdAt: '2026-01-15T09:30:00.000Z',
    },
  ],
  next_cursor: null,
});

/** The length of ORDER_BODY in bytes, for the report. */
export const ORDER_BYTES = Buffer.byteLength(ORDER_BODY);
