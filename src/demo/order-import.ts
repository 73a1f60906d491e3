import { Ajv } from 'ajv';
import type { FastifyBaseLogger } from 'fastify';
import secureJson from 'secure-json-parse';

import { OutboundClient, type OutboundClientDependencies } from '../core/outbound/client.js';
import { OutboundError } from '../core/outbound/errors.js';
import type { OutboundPolicy } from '../core/outbound/policy.js';
import { outboundProblem } from '../core/outbound/problems.js';
import { ProblemError } from '../core/problem.js';

/** Outbound policy and collaborators of the order import. */
export interface OrderImportOptions {
  /** Default {@link ORDER_IMPORT_POLICY}. */
  policy?: OutboundPolicy;
  /** Resolver and connect hook of the outbound client, which tests replace. */
  dependencies?: OutboundClientDependencies;
}

/** The fields an imported order document must contain. */
export interface ImportedOrder {
  item: string;
  quantity: number;
}

/**
 * Outbound policy of the order import: https on port 443 to public
 * addresses only, at most one redirect, an order-sized response and a short
 * deadline, because the URL comes straight from the caller.
 */
export const ORDER_IMPORT_POLICY: OutboundPolicy = {
  allowHttp: false,
  maxRedirects: 1,
  maxResponseBytes: 16_384,
  timeoutMs: 3000,
};

/** Maximum length of the `url` member, the usual limit of browsers and CDNs. */
export const MAX_IMPORT_URL_LENGTH = 2048;

export const importRequestSchema = {
  type: 'object',
  required: ['url'],
  additionalProperties: false,
  properties: {
    url: { type: 'string', minLength: 1, maxLength: MAX_IMPORT_URL_LENGTH },
  },
} as const;

/** An order document may carry more fields, such as a remote id; only `item` and `quantity` are taken. */
const importedOrderSchema = {
  type: 'object',
  required: ['item', 'quantity'],
  properties: {
    item: { type: 'string', minLength: 1, maxLength: 100 },
    quantity: { type: 'integer', minimum: 1, maximum: 1000 },
  },
} as const;

const validateImportedOrder = new Ajv({ allErrors: false }).compile<ImportedOrder>(importedOrderSchema);

const URL_POINTER = '/body/url';

/**
 * Fetches order documents from caller-supplied URLs through the SSRF-safe
 * outbound client, and turns every failure into a problem for the caller.
 */
export class OrderImporter {
  readonly #client: OutboundClient;

  constructor(options: OrderImportOptions = {}) {
    this.#client = new OutboundClient(options.policy ?? ORDER_IMPORT_POLICY, options.dependencies);
  }

  /**
   * Fetches the JSON order document at `url` and returns its item and
   * quantity. A target the outbound guard rejects is logged to `log` as a
   * warning with the rule, because that is how a forgery attempt shows up.
   */
  async fetchOrder(url: string, log: FastifyBaseLogger): Promise<ImportedOrder> {
    const response = await this.#fetch(url, log);

    if (response.status < 200 || response.status > 299) {
      throw new ProblemError('bad_gateway', `The URL at ${URL_POINTER} returned HTTP status ${response.status} instead of an order document.`);
    }

    const document = parseJson(response.body);
    if (!validateImportedOrder(document)) {
      const detail = 'must contain "item" (a string of 1 to 100 characters) and "quantity" (an integer from 1 to 1000)';
      throw new ProblemError('unprocessable_content', `The document at ${URL_POINTER} is not a valid order: it ${detail}.`);
    }

    return { item: document.item, quantity: document.quantity };
  }

  async #fetch(url: string, log: FastifyBaseLogger) {
    try {
      return await this.#client.fetch(url, { headers: { accept: 'application/json' } });
    } catch (error) {
      if (!(error instanceof OutboundError)) {
        throw error;
      }

      if (error.code.startsWith('OUTBOUND_BLOCKED_')) {
        log.warn({ host: error.host, rule: error.rule, outboundCode: error.code }, 'order import target rejected');
      }
      throw outboundProblem(error, URL_POINTER);
    }
  }
}

/** Parses a fetched body as JSON, rejecting `__proto__` and `constructor.prototype` keys like request bodies. */
function parseJson(body: Buffer): unknown {
  try {
    return secureJson.parse(body.toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    throw new ProblemError('unprocessable_content', `The document at ${URL_POINTER} is not valid JSON.`);
  }
}
