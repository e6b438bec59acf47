import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { Database } from './database.ts';
import { createPgliteDatabase } from './pglite.ts';
import { appUrlFrom, createPostgresDatabase } from './postgres.ts';

/** PostgreSQL when DATABASE_URL is set, otherwise embedded PGlite in `<dataDir>/pglite`. */
export async function openDatabase(config: Config): Promise<Database> {
  if (config.databaseUrl) {
    return createPostgresDatabase({
      ownerUrl: config.databaseUrl,
      appUrl: config.appDatabaseUrl ?? appUrlFrom(config.databaseUrl, config.appDbPassword),
      poolMax: config.poolMax,
    });
  }
  const dir = path.join(config.dataDir, 'pglite');
  mkdirSync(dir, { recursive: true });
  return createPgliteDatabase(dir);
}
