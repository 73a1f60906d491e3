import { createHook } from 'node:async_hooks';

/**
 * Async resource types of timers and libuv handles, which keep a process
 * running or a socket or port open. FILEHANDLE is left out because
 * Node.js destroys it only at garbage collection, and so is ELDHISTOGRAM,
 * because prom-client 15 enables an event loop delay histogram for each
 * registry and never disables it.
 */
const HANDLE_TYPES = new Set([
  'Timeout',
  'Immediate',
  'TCPWRAP',
  'TCPSERVERWRAP',
  'PIPEWRAP',
  'PIPESERVERWRAP',
  'UDPWRAP',
  'PROCESSWRAP',
  'SIGNALWRAP',
  'FSEVENTWRAP',
  'STATWATCHER',
  'WORKER',
  'MESSAGEPORT',
]);

/** The timers and handles created since `trackResources` was called. */
export interface ResourceTracker {
  /** Types of the recorded resources still open, sorted, such as `TCPWRAP` or `Timeout`. */
  open(): string[];
  /** Calls `create` without recording what it opens, such as the polling timers of a wait. */
  untracked<T>(create: () => T): T;
  stop(): void;
}

/**
 * Starts recording every timer and handle that this process creates, and
 * removes each one when Node.js destroys it: a timer that fired or was
 * cleared, a closed socket or server.
 */
export function trackResources(): ResourceTracker {
  const open = new Map<number, string>();
  let recording = true;
  const hook = createHook({
    init(asyncId, type) {
      if (recording && HANDLE_TYPES.has(type)) {
        open.set(asyncId, type);
      }
    },
    destroy(asyncId) {
      open.delete(asyncId);
    },
  }).enable();

  return {
    open: () => [...open.values()].sort(),
    untracked(create) {
      recording = false;
      try {
        return create();
      } finally {
        recording = true;
      }
    },
    stop: () => void hook.disable(),
  };
}
