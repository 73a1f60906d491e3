/**
 * Preloaded with `node --import` by scripts/idle-memory.ts. On SIGUSR2 it
 * writes the process's memory breakdown as JSON to $PORTCULLIS_MEMORY_PROBE_FILE.
 * With $PORTCULLIS_MEMORY_PROBE_MODULES set it also records every loaded ES
 * module and CommonJS file; that needs a module hooks thread, which costs
 * memory of its own, so the resident set of such a run is not comparable.
 */
import { writeFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
import v8 from 'node:v8';

const outputFile = process.env.PORTCULLIS_MEMORY_PROBE_FILE;
const esModules = new Set();

if (process.env.PORTCULLIS_MEMORY_PROBE_MODULES) {
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (url) => esModules.add(url));
  port1.unref();
  register('./module-log-hooks.mjs', import.meta.url, { data: { port: port2 }, transferList: [port2] });
}

function breakdown() {
  const require = createRequire(import.meta.url);
  return {
    memoryUsage: process.memoryUsage(),
    heapStatistics: v8.getHeapStatistics(),
    heapSpaces: v8.getHeapSpaceStatistics(),
    esModules: [...esModules],
    commonJsFiles: Object.keys(require.cache),
  };
}

if (outputFile !== undefined) {
  process.on('SIGUSR2', () => writeFileSync(outputFile, JSON.stringify(breakdown())));
}
