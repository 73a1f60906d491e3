import { statSync } from 'node:fs';

import type { Command } from 'commander';

import { ConfigError, loadConfig } from '../../config/load.js';
import type { PortcullisConfig } from '../../config/schema.js';
import { escapeControlCharacters } from '../../core/control-characters.js';
import type { BootstrapResult } from '../../server/bootstrap.js';
import { quoteArgument } from '../arguments.js';
import { DATA_DIR_HELP, dataDirSource } from '../options.js';
import { CliError, configFailure, escapeOutputText } from '../output.js';

interface StartOptions {
  config?: string;
  port?: string;
  host?: string;
  dataDir?: string;
  databaseUrl?: string;
  redisUrl?: string;
  redisCluster?: boolean;
  issuer?: string;
  logLevel?: string;
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new CliError(`--port: must be a whole number from 1 to 65535, got ${quoteArgument(value)}`);
  }
  return Number(value);
}

/**
 * Throws a CliError when the data directory exists but is not a directory.
 * A missing one is fine, because the first start creates it.
 */
function checkDataDir(config: Readonly<PortcullisConfig>, options: StartOptions): void {
  const stats = statSync(config.dataDir, { throwIfNoEntry: false });
  if (stats === undefined || stats.isDirectory()) {
    return;
  }
  throw new CliError(
    `data directory ${config.dataDir} exists but is not a directory; check ${dataDirSource(config.dataDir, options.dataDir)}, or move the file away`,
  );
}

/**
 * Prints what the first start created to standard error, outside the JSON
 * log stream, so the one-time admin password never enters a log pipeline.
 */
function announce(result: BootstrapResult): void {
  const lines: string[] = [];

  if (result.admin !== undefined) {
    lines.push(
      'Portcullis created the administrator account on first start:',
      `  username: ${result.admin.username}`,
      `  password: ${result.admin.password}`,
      'This password is shown only once and stored only as a hash. Keep it safe.',
    );
  }

  if (result.demoClient !== undefined) {
    // The redirect URI comes from the configured issuer.
    lines.push(`Demo public client: ${result.demoClient.clientId} (redirect URI ${escapeControlCharacters(result.demoClient.redirectUri)})`);
  }

  if (lines.length > 0) {
    process.stderr.write(`\n${escapeOutputText(lines.join('\n'))}\n\n`);
  }
}

/** Registers `portcullis start`. */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('start the authorization server, the gateway and the demo API')
    .option('--config <file>', 'YAML configuration file (default: $PORTCULLIS_CONFIG, or none)')
    .option('--port <port>', 'TCP port, 1 to 65535 (default: $PORTCULLIS_PORT or 8080)')
    .option('--host <address>', 'address to listen on (default: $PORTCULLIS_HOST or 127.0.0.1)')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--database-url <url>', 'sqlite:<path> or postgres://… (default: $PORTCULLIS_DATABASE_URL or the data directory\'s SQLite file)')
    .option('--redis-url <url>', 'Redis for state shared by several instances (default: $PORTCULLIS_REDIS_URL or none)')
    .option('--redis-cluster', 'treat --redis-url as a seed node of a Redis Cluster (default: $PORTCULLIS_REDIS_CLUSTER or false)')
    .option('--issuer <url>', 'issuer URL (default: $PORTCULLIS_ISSUER or http://127.0.0.1:<port>)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default: info)')
    .action(async (options: StartOptions) => {
      let config;
      try {
        config = loadConfig({
          config: options.config,
          port: parsePort(options.port),
          host: options.host,
          dataDir: options.dataDir,
          databaseUrl: options.databaseUrl,
          redisUrl: options.redisUrl,
          redisCluster: options.redisCluster,
          issuer: options.issuer,
          logLevel: options.logLevel,
        });
      } catch (error) {
        if (error instanceof ConfigError) {
          throw configFailure(error);
        }
        throw error;
      }
      checkDataDir(config, options);

      // Loaded here so that admin commands do not load the protocol engine.
      const { startPortcullis } = await import('../../server/portcullis.js');
      const { OpenApiError } = await import('../../core/openapi/operations.js');
      const { UpstreamPolicyError } = await import('../../gateway/upstream-routes.js');
      let running;
      try {
        running = await startPortcullis(config, { onBootstrap: announce });
      } catch (error) {
        if (error instanceof OpenApiError || error instanceof UpstreamPolicyError) {
          throw new CliError(`Invalid gateway policy: ${error.message}`);
        }
        throw error;
      }

      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          running.logger.warn({ signal }, 'second stop signal received; responding to the running requests with 503 now');
          running.endRequests();
          return;
        }
        stopping = true;
        running.logger.info({ signal, shutdownTimeoutMs: running.config.shutdownTimeoutMs }, 'shutting down');
        running.close().then(
          ({ endedRequests }) => {
            // Exit code 1 shows a supervisor that requests were cut short.
            if (endedRequests > 0) {
              running.logger.warn({ endedRequests }, 'stopped; requests that did not finish received 503 or were cut');
              process.exit(1);
            }
            running.logger.info('stopped');
            process.exit(0);
          },
          (error: unknown) => {
            running.logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}
