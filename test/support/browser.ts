import { chromium, type Browser } from 'playwright-core';

/** Path of the browser: Debian's Chromium, which `.ci/run` installs when it is missing, unless PORTCULLIS_TEST_CHROMIUM names another. */
export const CHROMIUM_PATH = process.env['PORTCULLIS_TEST_CHROMIUM'] ?? '/usr/bin/chromium';

/**
 * Starts headless Chromium for a test. The flags turn off its own network
 * traffic (updates, sync, background requests), because the test machines
 * reach no host but their own, and the sandbox, which needs a non-root user.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
