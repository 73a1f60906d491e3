import { randomUUID } from 'node:crypto';

/** An order of the demo API, as clients see it. */
export interface Order {
  id: string;
  item: string;
  quantity: number;
  status: 'placed';
  /** The `sub` of the account that placed the order. */
  owner: string;
  /** Creation time as an ISO 8601 UTC timestamp. */
  createdAt: string;
}

/** One page of a listing, newest order first. */
export interface OrderPage {
  items: Order[];
  /** Opaque cursor of the next page, or null on the last page. */
  nextCursor: string | null;
}

/** Error for a cursor that this store did not issue for the listing it was sent to. */
export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
    this.name = 'InvalidCursorError';
  }
}

/** Error for a create request from an owner who already has the maximum number of orders. */
export class OrderLimitError extends Error {
  readonly limit: number;

  constructor(limit: number) {
    super(`order limit of ${limit} reached`);
    this.name = 'OrderLimitError';
    this.limit = limit;
  }
}

/**
 * The listing a cursor belongs to. A cursor of one listing is rejected by
 * the other, because their positions count different sequences.
 */
type Listing = 'own' | 'all';

interface StoredOrder {
  order: Order;
  /** Position among all orders, used by the listing of everyone's orders. */
  position: number;
  /** Position among the owner's orders, used by the owner's listing. */
  ownerPosition: number;
}

interface OwnerRecord {
  /** The owner's orders by id, oldest first (a Map keeps insertion order). */
  orders: Map<string, StoredOrder>;
  /** Position of the owner's most recent order, never reused after a delete. */
  lastPosition: number;
}

/**
 * Encodes a page position as an opaque cursor.
 *
 * A listing of one owner counts positions among that owner's orders only,
 * so its cursors do not reveal how many orders other owners placed.
 */
function encodeCursor(listing: Listing, position: number): string {
  return Buffer.from(`${listing}:${position}`, 'utf8').toString('base64url');
}

/** Decodes a cursor of `listing`, or throws InvalidCursorError. */
function decodeCursor(listing: Listing, cursor: string): number {
  const match = /^(own|all):([1-9][0-9]{0,14})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match?.[1] !== listing || match[2] === undefined) {
    throw new InvalidCursorError();
  }

  // Node's base64url decoder skips characters outside the alphabet, so only
  // the canonical encoding of the decoded value is accepted.
  const position = Number(match[2]);
  if (encodeCursor(listing, position) !== cursor) {
    throw new InvalidCursorError();
  }

  return position;
}

/**
 * Builds one page from orders sorted oldest first, walking from the newest.
 *
 * `before` is the position decoded from the cursor, so a page starts right
 * after the last order of the previous page even when orders were deleted
 * or created in between.
 */
function pageNewestFirst(
  listing: Listing,
  orders: readonly StoredOrder[],
  positionOf: (stored: StoredOrder) => number,
  limit: number,
  before: number,
): OrderPage {
  const items: Order[] = [];
  let lastPosition = 0;
  let hasMore = false;

  for (let index = orders.length - 1; index >= 0; index -= 1) {
    const stored = orders[index];
    if (stored === undefined || positionOf(stored) >= before) {
      continue;
    }

    if (items.length === limit) {
      hasMore = true;
      break;
    }

    items.push({ ...stored.order });
    lastPosition = positionOf(stored);
  }

  return { items, nextCursor: hasMore ? encodeCursor(listing, lastPosition) : null };
}

/**
 * The orders of the demo API, kept in an in-memory Map, so they are lost when
 * the process stops.
 *
 * Memory is bounded by the per-owner limit times the number of owners, and
 * owners are accounts that the gateway authenticated. The record of an owner
 * stays after their last order is deleted, so cursors stay valid.
 */
export class OrderStore {
  /** Every order by id, oldest first. */
  readonly #orders = new Map<string, StoredOrder>();
  readonly #owners = new Map<string, OwnerRecord>();
  readonly #maxOrdersPerOwner: number;
  #lastPosition = 0;

  /** Creates an empty store. Throws RangeError unless `maxOrdersPerOwner` is a positive integer. */
  constructor(maxOrdersPerOwner: number) {
    if (!Number.isSafeInteger(maxOrdersPerOwner) || maxOrdersPerOwner < 1) {
      throw new RangeError(`maxOrdersPerOwner must be a positive integer, got ${maxOrdersPerOwner}.`);
    }

    this.#maxOrdersPerOwner = maxOrdersPerOwner;
  }

  /** Stores a new order with status `placed`, or throws OrderLimitError when the owner has the maximum. */
  create(owner: string, item: string, quantity: number): Order {
    const record = this.#ownerRecord(owner);
    if (record.orders.size >= this.#maxOrdersPerOwner) {
      throw new OrderLimitError(this.#maxOrdersPerOwner);
    }

    const order: Order = {
      id: randomUUID(),
      item,
      quantity,
      status: 'placed',
      owner,
      createdAt: new Date().toISOString(),
    };

    this.#lastPosition += 1;
    record.lastPosition += 1;
    const stored: StoredOrder = { order, position: this.#lastPosition, ownerPosition: record.lastPosition };

    this.#orders.set(order.id, stored);
    record.orders.set(order.id, stored);

    return { ...order };
  }

  /** Finds an order by id, regardless of its owner. */
  find(id: string): Order | undefined {
    const stored = this.#orders.get(id);
    return stored === undefined ? undefined : { ...stored.order };
  }

  /**
   * Finds an order of `owner`. Returns undefined both when the order does
   * not exist and when someone else owns it, so callers cannot tell the two
   * cases apart.
   */
  findOwned(id: string, owner: string): Order | undefined {
    const stored = this.#owners.get(owner)?.orders.get(id);
    return stored === undefined ? undefined : { ...stored.order };
  }

  /** Deletes an order of `owner`. Returns false when the order does not exist or someone else owns it. */
  deleteOwned(id: string, owner: string): boolean {
    const record = this.#owners.get(owner);
    if (record === undefined || !record.orders.delete(id)) {
      return false;
    }

    this.#orders.delete(id);
    return true;
  }

  /** Lists one page of the orders of `owner`, newest first. Throws InvalidCursorError. */
  listOwned(owner: string, limit: number, cursor: string | undefined): OrderPage {
    const before = cursor === undefined ? Number.POSITIVE_INFINITY : decodeCursor('own', cursor);
    const orders = [...(this.#owners.get(owner)?.orders.values() ?? [])];

    return pageNewestFirst('own', orders, (stored) => stored.ownerPosition, limit, before);
  }

  /** Lists one page of everyone's orders, newest first. Throws InvalidCursorError. */
  listAll(limit: number, cursor: string | undefined): OrderPage {
    const before = cursor === undefined ? Number.POSITIVE_INFINITY : decodeCursor('all', cursor);
    const orders = [...this.#orders.values()];

    return pageNewestFirst('all', orders, (stored) => stored.position, limit, before);
  }

  #ownerRecord(owner: string): OwnerRecord {
    let record = this.#owners.get(owner);
    if (record === undefined) {
      record = { orders: new Map(), lastPosition: 0 };
      this.#owners.set(owner, record);
    }

    return record;
  }
}
