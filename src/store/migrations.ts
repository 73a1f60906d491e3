import { PostgresAdapter, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/**
 * Schema migrations, in order. A released migration never changes: a new
 * schema change is a new entry. Each one runs on SQLite and PostgreSQL, so
 * it uses only Kysely's schema builder and the types `text`, `integer` and
 * `bigint` (JSON is stored as text, booleans as 0 or 1). Times are `bigint`:
 * PostgreSQL's `integer` has 32 bits and ends in January 2038, while an
 * SQLite integer has 64 bits either way.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('accounts')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('username', 'text', (column) => column.notNull())
        .addColumn('username_key', 'text', (column) => column.notNull().unique())
        .addColumn('email', 'text', (column) => column.notNull().unique())
        .addColumn('password_hash', 'text', (column) => column.notNull())
        .addColumn('roles', 'text', (column) => column.notNull().defaultTo('[]'))
        .addColumn('created_at', 'integer', (column) => column.notNull())
        .addColumn('updated_at', 'integer', (column) => column.notNull())
        .execute();

      await db.schema
        .createTable('clients')
        .addColumn('client_id', 'text', (column) => column.primaryKey())
        .addColumn('metadata', 'text', (column) => column.notNull())
        .addColumn('created_at', 'integer', (column) => column.notNull())
        .execute();

      await db.schema
        .createTable('oidc_payloads')
        .addColumn('model', 'text', (column) => column.notNull())
        .addColumn('id', 'text', (column) => column.notNull())
        .addColumn('payload', 'text', (column) => column.notNull())
        .addColumn('grant_id', 'text')
        .addColumn('uid', 'text')
        .addColumn('user_code', 'text')
        .addColumn('expires_at', 'integer')
        .addColumn('consumed_at', 'integer')
        .addPrimaryKeyConstraint('oidc_payloads_pk', ['model', 'id'])
        .execute();

      await db.schema.createIndex('oidc_payloads_grant_id').on('oidc_payloads').column('grant_id').execute();
      await db.schema.createIndex('oidc_payloads_uid').on('oidc_payloads').column('uid').execute();
      await db.schema.createIndex('oidc_payloads_user_code').on('oidc_payloads').column('user_code').execute();
      await db.schema.createIndex('oidc_payloads_expires_at').on('oidc_payloads').column('expires_at').execute();

      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (column) => column.primaryKey())
        .addColumn('alg', 'text', (column) => column.notNull())
        .addColumn('private_jwk', 'text', (column) => column.notNull())
        .addColumn('created_at', 'integer', (column) => column.notNull())
        .addColumn('retired_at', 'integer')
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const table of ['signing_keys', 'oidc_payloads', 'clients', 'accounts']) {
        await sql`drop table if exists ${sql.table(table)}`.execute(db);
      }
    },
  },
  '0002_api_keys': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('hash', 'text', (column) => column.notNull())
        .addColumn('environment', 'text', (column) => column.notNull())
        .addColumn('owner_id', 'text', (column) => column.notNull())
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('scopes', 'text', (column) => column.notNull())
        .addColumn('allowed_cidrs', 'text', (column) => column.notNull().defaultTo('[]'))
        .addColumn('created_at', 'integer', (column) => column.notNull())
        .addColumn('expires_at', 'integer')
        .addColumn('last_used_at', 'integer')
        .addColumn('revoked_at', 'integer')
        .addColumn('replaced_by', 'text')
        .execute();

      await db.schema.createIndex('api_keys_owner_id').on('api_keys').column('owner_id').execute();
    },
    async down(db: Kysely<unknown>) {
      await sql`drop table if exists api_keys`.execute(db);
    },
  },
  '0003_audit_events': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit_events')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('occurred_at', 'bigint', (column) => column.notNull())
        .addColumn('type', 'text', (column) => column.notNull())
        .addColumn('outcome', 'text', (column) => column.notNull())
        .addColumn('actor', 'text')
        .addColumn('client_id', 'text')
        .addColumn('key_id', 'text')
        .addColumn('source_address', 'text')
        .addColumn('request_id', 'text')
        .addColumn('reason', 'text')
        .addColumn('detail', 'text')
        .execute();

      await db.schema.createIndex('audit_events_occurred_at').on('audit_events').column('occurred_at').execute();
      await db.schema.createIndex('audit_events_type_occurred_at').on('audit_events').columns(['type', 'occurred_at']).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('audit_events').ifExists().execute();
    },
  },
  '0004_wide_times': {
    async up(db: Kysely<unknown>) {
      // SQLite stores every integer in up to 64 bits and cannot alter a column type.
      if (!(db.getExecutor().adapter instanceof PostgresAdapter)) {
        return;
      }

      // Each ALTER rewrites its table under an exclusive lock, held until the
      // migrations commit. A migration that waits more than 10 s for a lock
      // fails, and the start can be retried, instead of queueing every
      // request behind it.
      await sql`set local lock_timeout = '10s'`.execute(db);
      await sql`delete from oidc_payloads where expires_at < extract(epoch from now())`.execute(db);

      for (const [table, columns] of Object.entries(TIME_COLUMNS)) {
        let alter = db.schema.alterTable(table).alterColumn(columns[0] as string, (column) => column.setDataType('bigint'));
        for (const name of columns.slice(1)) {
          alter = alter.alterColumn(name, (column) => column.setDataType('bigint'));
        }
        await alter.execute();
      }
    },
    async down() {
      // Narrowing again could fail on times after January 2038, so the columns stay wide.
    },
  },
  '0005_account_status': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('accounts').addColumn('disabled_at', 'bigint').execute();
      await db.schema.alterTable('accounts').addColumn('sessions_revoked_at', 'bigint').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('accounts').dropColumn('sessions_revoked_at').execute();
      await db.schema.alterTable('accounts').dropColumn('disabled_at').execute();
    },
  },
  '0006_api_key_clients': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('api_keys').addColumn('client_id', 'text').execute();
      await db.schema.createIndex('api_keys_client_id').on('api_keys').column('client_id').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropIndex('api_keys_client_id').ifExists().execute();
      await db.schema.alterTable('api_keys').dropColumn('client_id').execute();
    },
  },
};

/**
 * The epoch-second columns that the first migrations created as `integer`,
 * by table. The largest table goes first, so the small tables that every
 * sign-in and API key check reads stay locked for the shortest time.
 */
const TIME_COLUMNS: Record<string, readonly [string, ...string[]]> = {
  oidc_payloads: ['expires_at', 'consumed_at'],
  api_keys: ['created_at', 'expires_at', 'last_used_at', 'revoked_at'],
  signing_keys: ['created_at', 'retired_at'],
  clients: ['created_at'],
  accounts: ['created_at', 'updated_at'],
};

/** Serves the migrations from code, so a built package needs no migration files on disk. */
export class CodeMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}
