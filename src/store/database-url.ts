import { isAbsolute, join, resolve } from 'node:path';

export const DATABASE_FILE = 'portcullis.sqlite';

/** Location of the relational store: an SQLite file or a PostgreSQL server. */
export type DatabaseLocation = { dialect: 'sqlite'; path: string } | { dialect: 'postgres'; url: string };

/** Builds the default `database` setting: the SQLite file inside the data directory. */
export function defaultDatabaseUrl(dataDir: string): string {
  return `sqlite:${join(dataDir, DATABASE_FILE)}`;
}

/**
 * Parses the `database` setting: `sqlite:<path>` (relative paths are
 * resolved against the working directory) or a `postgres://` or
 * `postgresql://` connection URL as libpq and node-postgres read it.
 *
 * Throws an Error whose message names what is wrong with the value.
 */
export function parseDatabaseUrl(value: string): DatabaseLocation {
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length);
    if (path === '') {
      throw new Error("must name a file after 'sqlite:', for example sqlite:./data/portcullis.sqlite");
    }
    return { dialect: 'sqlite', path: isAbsolute(path) ? path : resolve(path) };
  }

  if (value.startsWith('postgres://') || value.startsWith('postgresql://')) {
    const url = URL.parse(value);
    if (url === null || url.hostname === '') {
      throw new Error('is not a valid PostgreSQL URL such as postgres://user@db.example.com:5432/portcullis');
    }
    return { dialect: 'postgres', url: value };
  }

  throw new Error("must start with 'sqlite:' or 'postgres://'");
}
