import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { JWK } from 'jose';

import type { OutboundPolicy } from '../../src/core/outbound/policy.js';

/** Serves a JWK Set on loopback whose responses the test controls: served, delayed until released, failed, or not a JWK Set. */
export class KeySetServer {
  readonly server = createServer((_request, response) => this.#answer(response));
  keys: JWK[] = [];
  mode: 'serve' | 'hold' | 'fail' | 'not-a-key-set' = 'serve';
  fetches = 0;
  #held: ServerResponse[] = [];

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    this.release();
    await new Promise((resolve) => this.server.close(resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks`;
  }

  get policy(): OutboundPolicy {
    const port = (this.server.address() as AddressInfo).port;
    return { allowHttp: true, allowedPorts: [port], allowedHosts: [{ name: '127.0.0.1', allowInternal: true }] };
  }

  release(): void {
    for (const response of this.#held.splice(0)) {
      this.#serve(response);
    }
  }

  #answer(response: ServerResponse): void {
    this.fetches += 1;
    if (this.mode === 'hold') {
      this.#held.push(response);
    } else if (this.mode === 'fail') {
      response.statusCode = 503;
      response.end();
    } else if (this.mode === 'not-a-key-set') {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: 'none' }));
    } else {
      this.#serve(response);
    }
  }

  #serve(response: ServerResponse): void {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ keys: this.keys }));
  }
}

