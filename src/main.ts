import { ConfigError, loadConfig } from './platform/config.ts';
import { startServer } from './server.ts';

try {
  const config = loadConfig();
  const server = await startServer(config);
  const { operator, defaultTenant } = server.credentials;
  const lines = [
    '',
    `  Palazzo is running at ${config.publicUrl}`,
    `  API docs:     ${config.publicUrl}/docs`,
    `  Database:     ${config.databaseUrl ? 'PostgreSQL' : `embedded PGlite in ${config.dataDir}`}`,
  ];
  if (operator) {
    lines.push(
      '',
      '  Operator (POST /v1/operator/login):',
      `    email:    ${operator.email}`,
      operator.generated
        ? `    password: ${operator.password}   <- shown once; store it now`
        : '    password: (from PALAZZO_OPERATOR_PASSWORD)',
    );
  }
  if (defaultTenant) {
    lines.push(
      '',
      `  Default tenant "${defaultTenant.slug}" owner (POST /v1/auth/login):`,
      `    tenant:   ${defaultTenant.slug}`,
      `    email:    ${defaultTenant.email}`,
      `    password: ${defaultTenant.password}   <- shown once; store it now`,
    );
  }
  // Printed to the terminal, never to the structured log: the log may be shipped elsewhere.
  process.stdout.write(`${lines.join('\n')}\n\n`);
  const shutdown = async (signal: string) => {
    server.palazzo.app.log.info({ signal }, 'shutting down');
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`Configuration error: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
