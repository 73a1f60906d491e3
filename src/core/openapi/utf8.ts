const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true });

/**
 * Returns `body` decoded as UTF-8, or undefined when it has invalid bytes,
 * which Buffer.toString would replace with U+FFFD. A leading byte order mark
 * is dropped.
 */
export function decodeUtf8(body: Buffer): string | undefined {
  try {
    return UTF8_DECODER.decode(body);
  } catch {
    return undefined;
  }
}
