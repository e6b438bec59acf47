import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from './database.ts';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../migrations');

export type Migration = { version: number; name: string; sql: string; checksum: string };

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => {
      const sql = readFileSync(path.join(dir, file), 'utf8');
      return {
        version: Number(file.slice(0, 4)),
        name: file.replace(/\.sql$/, ''),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    });
}

const LEDGER = `CREATE TABLE IF NOT EXISTS palazzo_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/** Applies pending migrations as the owner role, each in its own transaction. Safe to run twice. */
export async function migrate(db: Database, migrations = loadMigrations()): Promise<string[]> {
  const applied: string[] = [];
  await db.withOwner(async (tx) => {
    // Serialises concurrent migrators (several nodes starting at once).
    await tx.query('SELECT pg_advisory_xact_lock(7274001)');
    await tx.query(LEDGER);
    const done = await tx.query<{ version: number; checksum: string; name: string }>(
      'SELECT version, checksum, name FROM palazzo_migrations',
    );
    const byVersion = new Map(done.rows.map((row) => [row.version, row]));
    for (const migration of migrations) {
      const previous = byVersion.get(migration.version);
      if (previous) {
        if (previous.checksum !== migration.checksum) {
          throw new Error(`migration ${migration.name} was changed after it was applied (checksum differs)`);
        }
        continue;
      }
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO palazzo_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      applied.push(migration.name);
    }
  });
  return applied;
}

export async function pendingMigrations(db: Database, migrations = loadMigrations()): Promise<string[]> {
  const done = await db.withControlPlane((tx) => tx.query<{ version: number }>('SELECT version FROM palazzo_migrations'));
  const versions = new Set(done.rows.map((row) => row.version));
  return migrations.filter((m) => !versions.has(m.version)).map((m) => m.name);
}
