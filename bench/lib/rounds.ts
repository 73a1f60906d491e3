/**
 * Returns the scenario indexes in the order that round `round` (from 1)
 * measures them. Each round rotates the list further, so that no scenario
 * always runs last, after the same others.
 */
export function roundOrder(count: number, round: number, rounds: number): number[] {
  const offset = Math.floor(((round - 1) * count) / rounds);
  return Array.from({ length: count }, (_unused, position) => (position + offset) % count);
}
