import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { obtainTokens } from '../support/oauth.js';
import { exchange, lastJsonBody, statusCodes, type SocketExchange } from '../support/raw-socket.js';
import { startTestServer, type TestServer } from '../support/server.js';

const ORDER = '{"item":"rope","quantity":1}';
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

describe('Expect: 100-continue', () => {
  let server: TestServer;
  let port: number;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer();
    port = Number(new URL(server.url).port);
    token = (await obtainTokens(server, await createUser(server, 'continue_carol'))).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
  });

  /**
   * Sends the head of a request that expects 100-continue, and its body
   * once the server sends anything, as a client that honours the
   * expectation does. Returns everything the server sent.
   */
  async function sendExpectingContinue(head: string, body: string): Promise<SocketExchange> {
    return exchange(
      port,
      (socket) => {
        let sent = false;
        socket.on('data', () => {
          if (!sent) {
            sent = true;
            socket.write(body);
          }
        });
        socket.write(`${head}Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`);
      },
      5000,
    );
  }

  it('forwards an authenticated body', async () => {
    const { received } = await sendExpectingContinue(
      `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nConnection: close\r\n`,
      ORDER,
    );

    expect(received.startsWith(CONTINUE)).toBe(true);
    expect(statusCodes(received)).toEqual([100, 201]);
    expect(lastJsonBody(received)).toMatchObject({ item: 'rope', quantity: 1 });
  });

  it('rejects a missing credential first', async () => {
    const { received, closed } = await sendExpectingContinue(
      'POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n',
      ORDER,
    );

    expect(received).not.toContain('100 Continue');
    expect(statusCodes(received)).toEqual([401]);
    expect(lastJsonBody(received)).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(String(lastJsonBody(received)['detail'])).toMatch(/^A credential is required: /);
    // The client may still send the body, so the connection is not reused.
    expect(closed).toBe(true);
  });

  it('rejects an undeclared operation first', async () => {
    const { received, closed } = await sendExpectingContinue(
      'PUT /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n',
      ORDER,
    );

    expect(received).not.toContain('100 Continue');
    expect(statusCodes(received)).toEqual([401]);
    expect(closed).toBe(true);
  });

  it('rejects an authenticated undeclared operation first', async () => {
    const { received, closed } = await sendExpectingContinue(
      `PUT /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n`,
      ORDER,
    );

    expect(received).not.toContain('100 Continue');
    expect(statusCodes(received)).toEqual([404]);
    expect(lastJsonBody(received)).toMatchObject({ code: 'not_found' });
    expect(closed).toBe(true);
  });

  it('rejects an oversize declared length first', async () => {
    const { received, closed } = await exchange(
      port,
      (socket) =>
        socket.write(
          `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
            'Content-Length: 50000000\r\nExpect: 100-continue\r\n\r\n',
        ),
      5000,
    );

    expect(received).not.toContain('100 Continue');
    expect(statusCodes(received)).toEqual([413]);
    expect(closed).toBe(true);
  });

  it('continues a token request', async () => {
    const { received } = await sendExpectingContinue(
      'POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n',
      `grant_type=authorization_code&code=not-a-code&client_id=${server.demoClientId}&redirect_uri=${encodeURIComponent(server.demoRedirectUri)}&code_verifier=${'a'.repeat(43)}`,
    );

    expect(received.startsWith(CONTINUE)).toBe(true);
    expect(statusCodes(received)).toEqual([100, 400]);
    expect(lastJsonBody(received)).toMatchObject({ error: 'invalid_grant' });
  });
});
