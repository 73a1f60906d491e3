/**
 * Waits until a moment plus a margin has passed. Expiry tests wait for the
 * instant the server reported, because a fixed pause can be overrun on a slow machine.
 */
export async function waitPast(moment: string | number, marginMs = 150): Promise<void> {
  const target = (typeof moment === 'number' ? moment : Date.parse(moment)) + marginMs;
  const remaining = target - Date.now();
  if (remaining > 0) {
    await new Promise((resolve) => setTimeout(resolve, remaining));
  }
}
