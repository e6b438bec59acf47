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

const audit = program.command('audit').description('the audit log');
audit
  .command('verify')
  .description("recompute a tenant's audit hash chain; exits 1 when it is broken")
  .requiredOption('--tenant <slug>', 'tenant slug')
  .action(async (options: { tenant: string }) => {
    try {
      const report = await withApp(async (p) => {
        const tenant = await p.services.directory.getBySlug(options.tenant.toLowerCase());
        if (!tenant) throw new Error(`no tenant with slug ${options.tenant}`);
        return p.services.audit.verify(tenant.id);
      });
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      if (!report.valid) process.exit(1);
    } catch (error) {
      fail(error);
    }
  });
const mail = program.command('mail').description('read the mail outbox');
mail
  .command('list')
  .description('list outbound mail, newest first (kept messages show their body: without SMTP this is how links reach people)')
  .option('--tenant <id>', 'only this tenant (id)')
  .option('--status <status>', 'kept | queued | sent | failed')
  .option('--to <address>', 'only this recipient')
  .option('--limit <n>', 'how many', '20')
  .option('--body', 'print the text body of each message that still has one')
  .action(
    async (options: { tenant?: string; status?: 'kept' | 'queued' | 'sent' | 'failed'; to?: string; limit: string; body?: boolean }) => {
      try {
        const limit = Math.min(Math.max(Number.parseInt(options.limit, 10) || 20, 1), 1000);
        const rows = await withApp((p) =>
          p.services.mail.list({
            tenantId: options.tenant,
            status: options.status,
            recipient: options.to?.toLowerCase(),
            before: null,
            limit,
          }),
        );
        for (const { row, body } of rows.slice(0, limit)) {
          process.stdout.write(
            `${row.created_at.toISOString()}  ${row.status.padEnd(6)} ${row.template.padEnd(15)} ${row.locale}  ${row.recipient}  ${row.subject}  (${row.id})\n`,
          );
          if (row.last_error) process.stdout.write(`    last error: ${row.last_error}\n`);
          if (options.body && body) process.stdout.write(`${body.text.replace(/^/gm, '    ')}\n\n`);
        }
        if (rows.length === 0) process.stdout.write('no mail\n');
      } catch (error) {
        fail(error);
      }
    },
  );

await program.parseAsync(process.argv);
