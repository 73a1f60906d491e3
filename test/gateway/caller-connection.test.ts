import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';

import { CallerLeftError, ResponseSentError, cancelWhenCallerLeaves } from '../../src/gateway/caller-connection.js';
import type { UpstreamExchange } from '../../src/gateway/upstream-exchange.js';

/** Creates a caller's socket and a request on it. `respond` starts a response to that request and records the aborts of its exchange. */
function callerConnection() {
  const socket = new EventEmitter();
  const request = { socket } as unknown as IncomingMessage;

  const respond = (queued: boolean) => {
    const response = Object.assign(new EventEmitter(), { socket: queued ? null : socket, writableFinished: false });
    const aborts: Error[] = [];
    const exchange = { abort: (reason: Error) => aborts.push(reason) } as unknown as UpstreamExchange;
    cancelWhenCallerLeaves(request, response as unknown as ServerResponse, exchange);
    return { response, aborts };
  };

  return { socket, respond };
}

describe('cancellation when the caller leaves', () => {
  it('aborts a response left unfinished', () => {
    const { respond } = callerConnection();
    const { response, aborts } = respond(false);

    response.emit('close');

    expect(aborts).toHaveLength(1);
    expect(aborts[0]).toBeInstanceOf(CallerLeftError);
  });

  it('ends the exchange of a finished response', () => {
    // An exchange that has ended ignores this abort, and one still under way
    // lost its caller to another response, such as a shutdown's 503.
    const { respond } = callerConnection();
    const { response, aborts } = respond(false);

    response.writableFinished = true;
    response.emit('close');

    expect(aborts).toHaveLength(1);
    expect(aborts[0]).toBeInstanceOf(ResponseSentError);
  });

  it('aborts queued responses when the socket closes', () => {
    const { socket, respond } = callerConnection();
    const queued = [respond(true), respond(true), respond(true)];

    socket.emit('close');

    expect(queued.map(({ aborts }) => aborts.length)).toEqual([1, 1, 1]);
    expect(socket.listenerCount('close')).toBe(0);
  });

  it('shares one socket listener among queued responses', () => {
    const { socket, respond } = callerConnection();

    for (let index = 0; index < 20; index += 1) {
      respond(true);
    }

    expect(socket.listenerCount('close')).toBe(1);
  });

  it('forgets a queued response once it has finished', () => {
    const { socket, respond } = callerConnection();
    const { response, aborts } = respond(true);

    response.writableFinished = true;
    response.emit('close');
    socket.emit('close');

    expect(aborts).toHaveLength(1);
    expect(aborts[0]).toBeInstanceOf(ResponseSentError);
  });
});
