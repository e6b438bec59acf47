import { buildApp, type Palazzo } from './app.ts';
import { bootstrap, type FirstRunCredentials } from './bootstrap.ts';
import type { Config } from './platform/config.ts';
import type { Database } from './platform/db/database.ts';
import { migrate } from './platform/db/migrate.ts';
import { openDatabase } from './platform/db/open.ts';

export type RunningServer = { palazzo: Palazzo; db: Database; url: string; credentials: FirstRunCredentials; close(): Promise<void> };

/** Opens the database, migrates, builds the app, bootstraps the first run and listens. */
export async function startServer(config: Config): Promise<RunningServer> {
  const db = await openDatabase(config);
  await migrate(db);
  const palazzo = await buildApp({
    config,
    db,
    runJobs: true,
    logger: {
      level: config.logLevel,
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'], censor: '[redacted]' },
    },
  });
  const credentials = await bootstrap(palazzo, db, config);
  const address = await palazzo.app.listen({ port: config.port, host: config.host });
  return {
    palazzo,
    db,
    url: address,
    credentials,
    async close() {
      await palazzo.app.close();
      await db.close();
    },
  };
}
