import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { createPostgresDatabase, appUrlFrom } from '../../src/platform/db/postgres.ts';
import { migrate } from '../../src/platform/db/migrate.ts';

/**
 * With DATABASE_URL set (an administrative connection), the run gets a database of its own,
 * migrated once, which each test file copies (CREATE DATABASE … TEMPLATE), all dropped at the end. Without it, each test file starts its own PGlite.
 */
export default async function setup(project: TestProject) {
  // One master key per run: on PostgreSQL every test file shares the run's database, whose
  // signing keys are sealed under the key of the first app that started.
  project.provide('testMasterKey', randomBytes(32).toString('base64'));
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) return;
  const name = `palazzo_test_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const ownerUrl = url.toString();
  const db = createPostgresDatabase({ ownerUrl, appUrl: appUrlFrom(ownerUrl), poolMax: 2 });
  await migrate(db);
  await db.close();
  project.provide('testDatabaseUrl', ownerUrl);
  return async () => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    // The run's database and the per-file copies made from it (test/helpers/harness.ts).
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $1 || '_f%'`,
      [name],
    );
    for (const { datname } of rows) {
      await client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [
        datname,
      ]);
      await client.query(`DROP DATABASE IF EXISTS "${datname}"`);
    }
    await client.end();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    testDatabaseUrl: string | undefined;
    testMasterKey: string;
  }
}
