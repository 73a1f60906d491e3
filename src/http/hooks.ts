import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

import { isPromise, type Pending } from '../core/pending.js';

/** A request step that finishes at once or later, and throws or rejects to end the request with an error. */
export type RequestStep = (request: FastifyRequest, reply: FastifyReply) => Pending<void>;

/**
 * Turns a request step into a callback hook. An async hook costs promises
 * on every request, even when its step finishes at once, as the steps of a
 * cached or in-memory check do.
 */
export function callbackHook(step: RequestStep): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  return (request, reply, done) => {
    // Fastify takes a falsy error for success, so a step that throws or
    // rejects with no Error at all must still end the request.
    const fail = (error: unknown) => done(error instanceof Error ? error : new Error('A request step failed without an Error.'));

    let pending: Pending<void>;
    try {
      pending = step(request, reply);
    } catch (error) {
      fail(error);
      return;
    }

    if (isPromise(pending)) {
      Promise.resolve(pending).then(() => done(), fail);
    } else {
      done();
    }
  };
}
