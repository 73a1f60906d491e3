import type { Command } from 'commander';

import { CLI_ACTOR } from '../../audit/events.js';
import { rotateSigningKeys, SIGNING_ALGORITHMS } from '../../keys/signing-keys.js';
import { createOutput, textRow } from '../output.js';
import { withAdminContext } from '../context.js';
import { DATA_DIR_HELP } from '../options.js';


/** Registers `portcullis keys rotate` and `portcullis keys list`. */
export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('manage token signing keys');

  keys
    .command('rotate')
    .description(`make a new signing key active for each algorithm (${SIGNING_ALGORITHMS.join(', ')}); the old keys stay published until their tokens expire`)
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (options: { dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async ({ signingKeys, recordAudit }) => {
        const created = await rotateSigningKeys(signingKeys);
        const names = created.map((key) => `${key.kid} (${key.alg})`).join(', ');
        await recordAudit({ type: 'signing_key.rotated', outcome: 'success', actor: CLI_ACTOR, detail: `new keys ${names}` });
        const text = created.map((key) => `new active ${key.alg} signing key ${key.kid}`).join('\n');
        createOutput(options.json === true).result(
          created.map((key) => ({ kid: key.kid, alg: key.alg, active: true })),
          text,
        );
      }, { createStore: true });
    });

  keys
    .command('list')
    .description('list signing keys and their state')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (options: { dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async ({ signingKeys }) => {
        const list = (await signingKeys.listStates()).map((key) => ({
          kid: key.kid,
          alg: key.alg,
          state: key.retiredAt === null ? 'active' : 'retired',
          createdAt: new Date(key.createdAt * 1000).toISOString(),
          retiredAt: key.retiredAt === null ? null : new Date(key.retiredAt * 1000).toISOString(),
        }));
        const text = list.map((key) => textRow([key.kid, key.alg, key.state, key.createdAt])).join('\n');
        createOutput(options.json === true).result(list, text || 'no signing keys');
      });
    });
}
