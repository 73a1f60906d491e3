import type { Command } from 'commander';

import { ConfigError, loadConfig } from '../../config/load.js';
import { redactUrl } from '../../backends/backend-error.js';
import { migrateToLatest, openDatabase } from '../../store/database.js';
import { configFailure, createOutput } from '../output.js';
import { DATA_DIR_HELP } from '../options.js';

interface MigrateOptions {
  dataDir?: string;
  databaseUrl?: string;
  json?: boolean;
}

/** Registers `portcullis migrate`. */
export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations and exit (start applies them too)')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--database-url <url>', 'sqlite:<path> or postgres://… (default: $PORTCULLIS_DATABASE_URL or the data directory\'s SQLite file)')
    .option('--json', 'print the result as JSON')
    .action(async (options: MigrateOptions) => {
      let config;
      try {
        config = loadConfig({ dataDir: options.dataDir, databaseUrl: options.databaseUrl });
      } catch (error) {
        if (error instanceof ConfigError) {
          throw configFailure(error);
        }
        throw error;
      }

      const db = await openDatabase(config.database, { migrate: false });
      try {
        const applied = await migrateToLatest(db);
        const where = redactUrl(config.database);
        const text = applied.length === 0 ? `${where} is up to date` : `applied to ${where}: ${applied.join(', ')}`;
        createOutput(options.json === true).result({ database: where, applied }, text);
      } finally {
        await db.destroy();
      }
    });
}
