/**
 * Waits for `operation`, but rejects with `timeoutError()` once `timeoutMs`
 * milliseconds pass first. The operation itself goes on, and only the wait
 * for it ends.
 */
export async function withTimeout<T>(operation: Promise<T>, timeoutMs: number, timeoutError: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(timeoutError()), timeoutMs);
  });

  try {
    return await Promise.race([operation, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
