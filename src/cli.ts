import { Command } from 'commander';
import { buildApp } from './app.ts';
import { loadConfig } from './platform/config.ts';
import { migrate } from './platform/db/migrate.ts';
import { openDatabase } from './platform/db/open.ts';

const program = new Command('palazzo').description('Palazzo: multi-tenant AI assistant and CRM').version('0.1.0');

async function withApp<T>(fn: (palazzo: Awaited<ReturnType<typeof buildApp>>) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDatabase(config);
  try {
    await migrate(db);
    const palazzo = await buildApp({ config, db });
    try {
      return await fn(palazzo);
    } finally {
      await palazzo.app.close();
    }
  } finally {
    await db.close();
  }
}

function fail(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

program
  .command('serve')
  .description('run the server (same as npm start)')
  .action(async () => {
    await import('./main.ts');
  });

program
  .command('migrate')
  .description('apply pending database migrations')
  .action(async () => {
    const config = loadConfig();
    const db = await openDatabase(config);
    try {
      const applied = await migrate(db);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is current\n');
    } catch (error) {
      fail(error);
    } finally {
      await db.close();
    }
  });

const operator = program.command('operator').description('manage operators');
operator
  .command('create')
  .description('create an operator')
  .requiredOption('--email <email>', 'email address')
  .requiredOption('--name <name>', 'display name')
  .option('--password <password>', 'password (default: read PALAZZO_NEW_OPERATOR_PASSWORD)')
  .action(async (options: { email: string; name: string; password?: string }) => {
    const password = options.password ?? process.env.PALAZZO_NEW_OPERATOR_PASSWORD;
    if (!password) fail('give --password or set PALAZZO_NEW_OPERATOR_PASSWORD');
    try {
      const created = await withApp((p) => p.services.operators.create({ email: options.email, name: options.name, password }));
      process.stdout.write(`operator ${created.email} created (${created.id})\n`);
    } catch (error) {
      fail(error);
    }
  });

const tenants = program.command('tenants').description('inspect tenants');
tenants
  .command('list')
  .description('list tenants')
  .option('--status <status>', 'filter by status')
  .action(async (options: { status?: string }) => {
    try {
      const rows = await withApp((p) => p.services.tenants.list({ status: options.status, after: null, limit: 1000 }));
      for (const t of rows) process.stdout.write(`${t.id}  ${t.slug.padEnd(24)} ${t.tier.padEnd(10)} ${t.status}\n`);
    } catch (error) {
      fail(error);
    }
  });

await program.parseAsync(process.argv);
