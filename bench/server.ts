/**
 * One benchmark server, run as a child of the orchestrator (pinned to CPU 0 with taskset).
 * Which server is chosen by BENCH_SERVER; it listens on a free loopback port and reports it over IPC,
 * then answers `cpu` messages with its own process.cpuUsage() so the orchestrator can compute
 * CPU µs per request. It exits when the orchestrator says `stop` or disconnects.
 */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { Type } from 'typebox';
import { buildApp } from '../src/app.ts';
import { ApiKey } from '../src/modules/api-keys/api-keys.schemas.ts';
import { toApiKeyView } from '../src/modules/api-keys/api-keys.routes.ts';
import type { ApiKeyRow } from '../src/modules/api-keys/api-keys.repo.ts';
import { Me } from '../src/modules/identity/identity.schemas.ts';
import { loadConfig } from '../src/platform/config.ts';
import type { Database } from '../src/platform/db/database.ts';
import { migrate } from '../src/platform/db/migrate.ts';
import { openDatabase } from '../src/platform/db/open.ts';
import { createPgliteDatabase } from '../src/platform/db/pglite.ts';
import { appUrlFrom, type createPostgresDatabase } from '../src/platform/db/postgres.ts';
import type { ParentMessage, ServerKind, ServerMessage } from './lib/protocol.ts';
import { PLAIN_READ } from './lib/sql.ts';

const PlainParams = Type.Object({ tenantId: Type.String({ maxLength: 100 }), id: Type.String({ maxLength: 100 }) });

function notFound() {
  return Object.assign(new Error('not found'), { statusCode: 404 });
}

function send(message: ServerMessage) {
  process.send?.(message);
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

type Started = { port: number; close(): Promise<void> };

async function listenFastify(app: FastifyInstance, close: () => Promise<void> = async () => {}): Promise<Started> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    port: (app.server.address() as AddressInfo).port,
    async close() {
      await app.close();
      await close();
    },
  };
}

async function nodeHello(): Promise<Started> {
  const body = JSON.stringify({ hello: 'world' });
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function fastifyHello(): Promise<Started> {
  const app = Fastify({ logger: false });
  app.get('/', async () => ({ hello: 'world' }));
  return listenFastify(app);
}

/** B1 baseline: bare Fastify answering the body of GET /v1/me (given by the orchestrator) with the same schema. */
async function fastifyMeStatic(): Promise<Started> {
  const body = JSON.parse(env('BENCH_BODY')) as unknown;
  const app = Fastify({ logger: false });
  app.get('/v1/me', { schema: { response: { 200: Me } } }, async () => body);
  return listenFastify(app);
}

/**
 * The whole application, as `src/server.ts` builds it, minus the first-run bootstrap and the job poller.
 * BENCH_DB_MODULE (PostgreSQL only) names another module exporting `createPostgresDatabase`, to compare
 * two implementations of the database layer in one run.
 */
async function palazzo(): Promise<Started> {
  const config = loadConfig({ ...process.env, PALAZZO_LOG_LEVEL: 'silent' });
  const alternative = process.env.BENCH_DB_MODULE;
  let db: Database;
  if (alternative && config.databaseUrl) {
    const module = (await import(pathToFileURL(path.resolve(alternative)).href)) as {
      createPostgresDatabase: typeof createPostgresDatabase;
    };
    db = module.createPostgresDatabase({ ownerUrl: config.databaseUrl, appUrl: appUrlFrom(config.databaseUrl), poolMax: config.poolMax });
  } else {
    db = await openDatabase(config);
  }
  await migrate(db);
  const { app } = await buildApp({ config, db, logger: false, runJobs: false });
  return listenFastify(app, () => db.close());
}

/** B2 baseline on PostgreSQL: the same row, no auth, no RLS, privileged role, autocommit, same pool size. */
async function plainReadPostgres(): Promise<Started> {
  const pool = new pg.Pool({ connectionString: env('BENCH_PLAIN_URL'), max: Number(process.env.PALAZZO_DB_POOL_MAX ?? 10) });
  pool.on('error', () => {});
  const app = Fastify({ logger: false });
  app.get('/plain/:tenantId/api-keys/:id', { schema: { params: PlainParams, response: { 200: ApiKey } } }, async (request) => {
    const { tenantId, id } = request.params as { tenantId: string; id: string };
    const { rows } = await pool.query<ApiKeyRow>(PLAIN_READ, [tenantId, id]);
    const row = rows[0];
    if (!row) throw notFound();
    return toApiKeyView(row);
  });
  return listenFastify(app, () => pool.end());
}

/** B2 baseline on PGlite: a copy of the same data, queried as its superuser session (no RLS), autocommit. */
async function plainReadPglite(): Promise<Started> {
  const db = await createPgliteDatabase(env('BENCH_PGLITE_DIR'));
  const app = Fastify({ logger: false });
  app.get('/plain/:tenantId/api-keys/:id', { schema: { params: PlainParams, response: { 200: ApiKey } } }, async (request) => {
    const { tenantId, id } = request.params as { tenantId: string; id: string };
    const { rows } = await db.pglite.query<ApiKeyRow>(PLAIN_READ, [tenantId, id]);
    const row = rows[0];
    if (!row) throw notFound();
    return toApiKeyView(row);
  });
  return listenFastify(app, () => db.close());
}

const SERVERS: Record<ServerKind, () => Promise<Started>> = {
  'node-hello': nodeHello,
  'fastify-hello': fastifyHello,
  'fastify-me-static': fastifyMeStatic,
  palazzo,
  'plain-read-postgres': plainReadPostgres,
  'plain-read-pglite': plainReadPglite,
};

async function main() {
  const kind = env('BENCH_SERVER') as ServerKind;
  const start = SERVERS[kind];
  if (!start) throw new Error(`unknown BENCH_SERVER "${kind}"`);
  const server = await start();
  // Event-loop delay, read and reset by the orchestrator's `lag` messages (B9).
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => process.exit(0), 3000);
    timer.unref();
    try {
      await server.close();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'cpu') send({ type: 'cpu', seq: message.seq, usage: process.cpuUsage() });
    else if (message.type === 'lag') {
      const ms = (ns: number) => ns / 1e6;
      send({ type: 'lag', seq: message.seq, lag: { p50Ms: ms(loop.percentile(50)), p99Ms: ms(loop.percentile(99)), maxMs: ms(loop.max) } });
      loop.reset();
    } else if (message.type === 'stop') void stop();
  });
  // The orchestrator died or closed the channel: never outlive it.
  process.on('disconnect', () => void stop());
  send({ type: 'ready', port: server.port, pid: process.pid });
}

main().catch((error: unknown) => {
  send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
});
