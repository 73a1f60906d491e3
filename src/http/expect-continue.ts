import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * Sends the interim 100 (Continue) response only when the server starts
 * reading the request body.
 *
 * A client that sends `Expect: 100-continue` waits for the 100 before it
 * sends the body (RFC 9110 section 10.1.1), so that a rejected request costs
 * no upload. Node.js sends the 100 as soon as the request head arrives,
 * before any check has run. With this listener, a request rejected before
 * its body is read gets its final response without a 100: a missing or
 * invalid credential, the per-address limit, a declared length over the
 * body limit and an unsupported Content-Type. Node.js then closes the
 * connection, because the client may still send the body it kept back.
 *
 * The 100 goes out the first time anything reads the body: the JSON parser,
 * the authorization server's form parser, or a handler of its own.
 *
 * NOTE: the gateway's scope check, its per-operation limits and its
 * Content-Type and Content-Encoding checks run after the body is read, so
 * an authenticated caller rejected by one of them still sends the body.
 */
export function continueWhenBodyIsRead(server: Server): void {
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const read = request._read;
    request._read = function readAfterContinue(size: number): void {
      request._read = read;
      // After a final response, the body is read only to be thrown away.
      if (!response.headersSent) {
        response.writeContinue();
      }
      read.call(this, size);
    };

    server.emit('request', request, response);
  });
}
