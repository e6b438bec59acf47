/**
 * Configuration engine benchmarks (issue 5), standalone: `node --import tsx bench/config-read.ts`.
 *
 * 1. Read on the request path vs a constant. One server process (pinned to CPU 0) holds a real
 *    Palazzo app (buildApp on PGlite, real config service and invalidation bus) and answers two routes
 *    that differ only in where the retrieval parameters come from: A reads the tenant's effective
 *    configuration (`services.config.get(tenantId)`, rotating over the tenants), B uses a constant.
 *    The routes do nothing else, so the read is the largest share of their work: a ratio near 1 here
 *    bounds its cost on any heavier route. Load (autocannon, -c 20 -p 1) from this process on CPU 1,
 *    interleaved A B, B A, …; printed per round and as median [min, max]: server CPU µs per request
 *    B/A (the primary figure, as in bench/README.md) and req/s A/B. Target ≥ 0.98.
 * 2. Propagation across two nodes (needs REDIS_URL; PostgreSQL when reachable, else one PGlite): two
 *    apps on one database and one Redis; a tenant-level change is written on node A and node B is polled
 *    (in memory, every ~0.2 ms) until it serves the new value. Printed: median, p95, max over the samples.
 *
 * Environment: BENCH_ROUNDS (5), BENCH_SECONDS (5), BENCH_WARMUP (1), BENCH_TENANTS (20),
 * BENCH_SAMPLES (50), DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres), REDIS_URL.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { Type } from 'typebox';
import { buildApp, type Palazzo } from '../src/app.ts';
import { loadConfig } from '../src/platform/config.ts';
import type { Database } from '../src/platform/db/database.ts';
import { migrate } from '../src/platform/db/migrate.ts';
import { createPgliteDatabase } from '../src/platform/db/pglite.ts';
import { appUrlFrom, createPostgresDatabase } from '../src/platform/db/postgres.ts';
import { cleanupDatasets, createDatabase, postgresReachable } from './lib/datasets.ts';
import { runLoad } from './lib/load.ts';
import { percentileOfSorted, sorted, spread } from './lib/stats.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const TENANTS = Number(process.env.BENCH_TENANTS ?? 20);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 50);
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const MASTER_KEY = randomBytes(32);
const log = (line: string) => process.stderr.write(`${line}\n`);

function configFor(redisUrl?: string) {
  return loadConfig(
    { PALAZZO_DATA_DIR: os.tmpdir(), PALAZZO_LOG_LEVEL: 'silent', ...(redisUrl ? { REDIS_URL: redisUrl } : {}) },
    { masterKey: MASTER_KEY },
  );
}

async function createTenant(palazzo: Palazzo, label: string): Promise<string> {
  const slug = `bench-${label}-${randomBytes(4).toString('hex')}`;
  const tenant = await palazzo.services.tenants.create({
    slug,
    name: slug,
    tier: 'custom',
    owner: { email: `owner@${slug}.test`, name: 'Owner', password: 'a long benchmark passphrase' },
  });
  return tenant.id;
}

// ───────────── server (child process) ─────────────

async function serve() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'palazzo-bench-config-'));
  const db = await createPgliteDatabase(dir);
  await migrate(db);
  const palazzo = await buildApp({ config: configFor(), db, logger: false });
  const tenantIds: string[] = [];
  for (let i = 0; i < TENANTS; i += 1) tenantIds.push(await createTenant(palazzo, String(i)));
  const config = palazzo.services.config;
  for (const id of tenantIds) await config.get(id); // the steady state: every tenant cached
  const constant = (await config.get(tenantIds[0] as string)).retrieval;
  // The read alone, in a loop: nanoseconds per cached read beyond an awaited constant.
  const loop = async (read: (id: string) => Promise<unknown>) => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < 1_000_000; i += 1) await read(tenantIds[i % tenantIds.length] as string);
    return Number(process.hrtime.bigint() - started) / 1_000_000;
  };
  const constantRead = async () => constant;
  await loop(config.get);
  await loop(constantRead);
  const readNs = (await loop(config.get)) - (await loop(constantRead));

  const app = Fastify({ logger: false });
  const Params = Type.Object({ i: Type.Integer({ minimum: 0 }) });
  const Answer = Type.Object({ tenantId: Type.String(), topK: Type.Integer(), chunkSize: Type.Integer(), minScore: Type.Number() });
  const schema = { params: Params, response: { 200: Answer } };
  app.get('/a/:i', { schema }, async (request) => {
    const tenantId = tenantIds[(request.params as { i: number }).i % tenantIds.length] as string;
    const retrieval = (await config.get(tenantId)).retrieval;
    return { tenantId, topK: retrieval.topK, chunkSize: retrieval.chunkSize, minScore: retrieval.minScore };
  });
  app.get('/b/:i', { schema }, async (request) => {
    const tenantId = tenantIds[(request.params as { i: number }).i % tenantIds.length] as string;
    const retrieval = constant;
    return { tenantId, topK: retrieval.topK, chunkSize: retrieval.chunkSize, minScore: retrieval.minScore };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.on('message', (message: { type: string; seq: number }) => {
    if (message.type === 'cpu') process.send?.({ type: 'cpu', seq: message.seq, usage: process.cpuUsage() });
  });
  process.send?.({ type: 'ready', port: (app.server.address() as AddressInfo).port, readNs });
  const stop = async () => {
    await app.close();
    await palazzo.app.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('disconnect', () => void stop());
}

// ───────────── orchestrator ─────────────

type Server = { port: number; readNs: number; cpuMicros(): Promise<number>; stop(): void };

function startServer(): Promise<Server> {
  const entry = fileURLToPath(import.meta.url);
  const child = spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', entry], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, CONFIG_BENCH_ROLE: 'server', NODE_ENV: 'production' },
  });
  let seq = 0;
  const waiting = new Map<number, (micros: number) => void>();
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`server exited (code ${code})`)));
    child.on('message', (message: { type: string; port: number; readNs: number; seq: number; usage: NodeJS.CpuUsage }) => {
      if (message.type === 'cpu') {
        waiting.get(message.seq)?.(message.usage.user + message.usage.system);
        waiting.delete(message.seq);
        return;
      }
      resolve({
        port: message.port,
        readNs: message.readNs,
        cpuMicros: () =>
          new Promise((done) => {
            seq += 1;
            waiting.set(seq, done);
            child.send({ type: 'cpu', seq });
          }),
        stop: () => child.disconnect(),
      });
    });
  });
}

async function readVsConstant() {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  } catch {
    log('warning: could not pin the load generator to CPU 1');
  }
  const server = await startServer();
  const url = `http://127.0.0.1:${server.port}`;
  let n = 0;
  const target = (leg: 'a' | 'b') => ({ url, path: `/${leg}/0`, next: () => ({ path: `/${leg}/${n++ % TENANTS}`, headers: {} }) });
  const rpsRatios: number[] = [];
  const cpuRatios: number[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round += 1) {
      const rps: Record<string, number> = {};
      const cpu: Record<string, number> = {};
      // A B in odd rounds, B A in even ones: a drift of the machine's load does not favour one leg.
      for (const leg of round % 2 ? (['a', 'b'] as const) : (['b', 'a'] as const)) {
        await runLoad(target(leg), WARMUP);
        const before = await server.cpuMicros();
        const result = await runLoad(target(leg), SECONDS);
        const used = (await server.cpuMicros()) - before;
        if (result.non2xx || result.errors) log(`warning: leg ${leg}: ${result.non2xx} non-2xx, ${result.errors} errors`);
        rps[leg] = result.rps;
        cpu[leg] = used / result.ok;
      }
      rpsRatios.push((rps.a as number) / (rps.b as number));
      // Server CPU per request, B/A: 1.0 means reading the configuration costs nothing measurable.
      cpuRatios.push((cpu.b as number) / (cpu.a as number));
      log(
        `round ${round}: config read ${rps.a?.toFixed(0)} req/s ${cpu.a?.toFixed(1)} µs CPU/req; constant ${rps.b?.toFixed(0)} req/s ${cpu.b?.toFixed(1)} µs CPU/req; req/s A/B ${rpsRatios.at(-1)?.toFixed(3)}, CPU B/A ${cpuRatios.at(-1)?.toFixed(3)}`,
      );
    }
  } finally {
    server.stop();
  }
  const rpsSpread = spread(rpsRatios);
  const cpuSpread = spread(cpuRatios);
  return {
    cpuPerRequestBA: cpuSpread,
    rpsAB: rpsSpread,
    cachedReadExtraNs: server.readNs,
    verdict: cpuSpread.median >= 0.98 ? 'PASS' : 'FAIL',
  };
}

async function propagation() {
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) return { skipped: 'REDIS_URL is not set' };
  let db: Database;
  let backend: string;
  let dir: string | undefined;
  if (await postgresReachable(DATABASE_URL)) {
    const ownerUrl = await createDatabase(DATABASE_URL, 'config');
    db = createPostgresDatabase({ ownerUrl, appUrl: appUrlFrom(ownerUrl), poolMax: 5 });
    backend = 'postgres';
  } else {
    dir = mkdtempSync(path.join(os.tmpdir(), 'palazzo-bench-prop-'));
    db = await createPgliteDatabase(dir);
    backend = 'pglite';
  }
  await migrate(db);
  const nodeA = await buildApp({ config: configFor(redisUrl), db, logger: false });
  const nodeB = await buildApp({ config: configFor(redisUrl), db, logger: false });
  const samples: number[] = [];
  try {
    const tenantId = await createTenant(nodeA, 'prop');
    for (let i = 0; i < SAMPLES; i += 1) {
      const topK = 10 + (i % 2);
      await nodeB.services.config.get(tenantId); // B has the old value cached
      await nodeA.services.config.patch(
        { scope: 'tenant', tenantId },
        { retrieval: { topK } },
        { ifMatch: '*', actor: { type: 'system', id: null } },
      );
      const written = performance.now(); // committed on A and published
      for (;;) {
        if ((await nodeB.services.config.get(tenantId)).retrieval.topK === topK) break;
        if (performance.now() - written > 5000) throw new Error('not propagated within 5 s');
        await new Promise((resolve) => setImmediate(resolve));
      }
      samples.push(performance.now() - written);
    }
  } finally {
    await nodeA.app.close();
    await nodeB.app.close();
    await db.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  const s = sorted(samples);
  return {
    backend,
    samples: samples.length,
    ms: { median: percentileOfSorted(s, 50), p95: percentileOfSorted(s, 95), max: s[s.length - 1] },
  };
}

async function main() {
  log(`config read vs constant: ${ROUNDS} rounds × ${SECONDS} s per leg, ${TENANTS} tenants`);
  const read = await readVsConstant();
  log(`propagation across two nodes: ${SAMPLES} changes`);
  const prop = await propagation();
  await cleanupDatasets();
  const summary = { readVsConstant: read, propagation: prop };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.exit(0);
}

if (process.env.CONFIG_BENCH_ROLE === 'server') {
  serve().catch((error: unknown) => {
    log(String((error as Error).stack ?? error));
    process.exit(1);
  });
} else {
  main().catch(async (error: unknown) => {
    log(String((error as Error).stack ?? error));
    await cleanupDatasets().catch(() => {});
    process.exit(1);
  });
}
