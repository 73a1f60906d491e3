import { randomUUID } from 'node:crypto';

/** An order of the demo API. */
export interface Order {
  id: string;
  item: string;
  quantity: number;
  status: 'placed';
  owner: string;
  createdAt: string;
}

interface StoredOrder extends Order {
  sequence: number;
}

export interface OrderPage {
  items: Order[];
  /** Opaque cursor of the next page, or null on the last page. */
  nextCursor: string | null;
}

/** A cursor that this store did not issue. */
export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
    this.name = 'InvalidCursorError';
  }
}

/** The owner already has the maximum number of orders. */
export class OrderLimitError extends Error {
  constructor(readonly limit: number) {
    super(`order limit of ${limit} reached`);
    this.name = 'OrderLimitError';
  }
}

function encodeCursor(sequence: number): string {
  return Buffer.from(`after:${sequence}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^after:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match?.[1] === undefined || encodeCursor(Number(match[1])) !== cursor) {
    throw new InvalidCursorError();
  }
  return Number(match[1]);
}

function publicView({ sequence: _sequence, ...order }: StoredOrder): Order {
  return order;
}

/**
 * Orders of the demo API, kept in memory (they are lost on restart), with a
 * cap per owner so one caller cannot exhaust the process's memory.
 */
export class OrderStore {
  readonly #orders = new Map<string, StoredOrder>();
  readonly #countByOwner = new Map<string, number>();
  readonly #maxPerOwner: number;
  #sequence = 0;

  constructor(maxPerOwner: number) {
    this.#maxPerOwner = maxPerOwner;
  }

  create(owner: string, item: string, quantity: number): Order {
    const count = this.#countByOwner.get(owner) ?? 0;
    if (count >= this.#maxPerOwner) {
      throw new OrderLimitError(this.#maxPerOwner);
    }

    this.#sequence += 1;
    const order: StoredOrder = {
      id: randomUUID(),
      item,
      quantity,
      status: 'placed',
      owner,
      createdAt: new Date().toISOString(),
      sequence: this.#sequence,
    };
    this.#orders.set(order.id, order);
    this.#countByOwner.set(owner, count + 1);
    return publicView(order);
  }

  /** Returns the order when it exists and belongs to `owner`; otherwise undefined, so callers cannot tell the two apart. */
  findOwned(id: string, owner: string): Order | undefined {
    const order = this.#orders.get(id);
    return order?.owner === owner ? publicView(order) : undefined;
  }

  /** Deletes the order when it belongs to `owner`; returns false otherwise. */
  deleteOwned(id: string, owner: string): boolean {
    const order = this.#orders.get(id);
    if (order?.owner !== owner) {
      return false;
    }

    this.#orders.delete(id);
    this.#countByOwner.set(owner, (this.#countByOwner.get(owner) ?? 1) - 1);
    return true;
  }

  /** Lists orders in creation order, of one owner or of everyone; throws InvalidCursorError. */
  list(owner: string | undefined, limit: number, cursor: string | undefined): OrderPage {
    const after = cursor === undefined ? 0 : decodeCursor(cursor);
    const matches: StoredOrder[] = [];

    for (const order of this.#orders.values()) {
      if (order.sequence > after && (owner === undefined || order.owner === owner)) {
        matches.push(order);
        if (matches.length > limit) {
          break;
        }
      }
    }

    const items = matches.slice(0, limit);
    const last = items.at(-1);
    const nextCursor = matches.length > limit && last !== undefined ? encodeCursor(last.sequence) : null;
    return { items: items.map(publicView), nextCursor };
  }
}
