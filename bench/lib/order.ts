/** The JSON order that the benchmark upstream returns, 225 bytes long. */
export const ORDER_BODY = JSON.stringify({
  id: 'ord_01J8Z3Q4M5N6P7R8S9T0V1W2X3',
  status: 'paid',
  currency: 'EUR',
  total: 4250,
  items: [
    { sku: 'BOOK-0042', quantity: 2, price: 1500 },
    { sku: 'PEN-0007', quantity: 1, price: 1250 },
  ],
  createdAt: '2026-01-15T09:30:00.000Z',
});
