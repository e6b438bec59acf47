/**
 * Benchmark orchestrator: `npm run bench` (everything) or `npm run bench -- b2` (one benchmark).
 * Names: noise, b1, b2 (= b2-postgres + b2-pglite), b2-postgres, b2-pglite, b4, b8, b9, b10, fairness, knowledge
 * (= b5 + b6: bench/knowledge.ts, then ingestion throughput: bench/knowledge-ingest.ts; child processes on
 * PGlite, after the others). The
 * noise guard (Fastify hello vs node:http) runs in every run. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { type Comparison, compare, SETTINGS } from './lib/compare.ts';
import {
  BENCH_LIMITS,
  BENCH_PASSWORD,
  cleanupDatasets,
  palazzoEnv,
  pgliteDatasets,
  postgresDataset,
  postgresReachable,
  postgresTenantsDataset,
  type SeededKey,
  tenantCountDataset,
} from './lib/datasets.ts';
import { createDbCpuProbe, type DbCpuProbe } from './lib/dbcpu.ts';
import { compareExplain } from './lib/explain.ts';
import { FAIRNESS, runFairness } from './lib/fairness.ts';
import { loginStorm } from './lib/login-storm.ts';
import { compareLatency, type LatencyComparison } from './lib/openloop.ts';
import { CONNECTIONS, type Target } from './lib/load.ts';
import { formatOutcome, judge, type Outcome, runMetadata, writeResult } from './lib/report.ts';
import { killAllServers, LOAD_CPU, type ServerHandle, startServer } from './lib/servers.ts';
import { spread } from './lib/stats.ts';

const ALL = ['b1', 'b2-postgres', 'b2-pglite', 'b4', 'b8', 'b9', 'b10', 'fairness'] as const;
type Name = (typeof ALL)[number];

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const LATENCY_RPS = Number(process.env.BENCH_LATENCY_RPS ?? 500);
const B10_TENANTS = Number(process.env.BENCH_B10_TENANTS ?? 10_000);
const B10_SMALL_TENANTS = Number(process.env.BENCH_B10_SMALL_TENANTS ?? 10);
const B10_ROWS = Number(process.env.BENCH_B10_ROWS ?? 100_000);
const MAX_MINUTES = Number(process.env.BENCH_MAX_MINUTES ?? 60);
const LOGINS_PER_SECOND = Number(process.env.BENCH_LOGINS_PER_SECOND ?? 20);

const log = (line: string) => process.stderr.write(`${line}\n`);
/** B5 and B6 run in their own process (bench/knowledge.ts): PGlite in process, no HTTP servers. */
const KNOWLEDGE_NAMES = new Set(['knowledge', 'b5', 'b6']);
const ratioText = (s: { median: number; min: number; max: number }) => `${s.median.toFixed(2)} [${s.min.toFixed(2)}–${s.max.toFixed(2)}]`;

function parseNames(args: string[]): Name[] {
  const names = new Set<Name>();
  for (const raw of args.map((a) => a.toLowerCase())) {
    if (raw === 'all') for (const n of ALL) names.add(n);
    else if (raw === 'b2') {
      names.add('b2-postgres');
      names.add('b2-pglite');
    } else if (raw === 'noise') {
      // The noise guard always runs.
    } else if ((ALL as readonly string[]).includes(raw)) names.add(raw as Name);
    else throw new Error(`unknown benchmark "${raw}" (expected: all, noise, ${ALL.join(', ')}, b2)`);
  }
  if (args.length === 0) for (const n of ALL) names.add(n);
  return ALL.filter((n) => names.has(n));
}

/** The load generator (autocannon, in this process) runs on CPU 1; every thread of this process is moved there. */
function pinSelf() {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', LOAD_CPU, String(process.pid)], { stdio: 'ignore' });
  } catch (error) {
    log(`warning: could not pin the orchestrator to CPU ${LOAD_CPU}: ${(error as Error).message}`);
  }
}

async function redisReachable(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * The second target of B4 and B8, the added p99 (A p99 − B p99 per round, median [min–max] in ms), judged
 * on the open-loop latency legs at a fixed rate: printed as a note, written to the JSON, and a miss
 * turns a met verdict into missed. The closed-loop figure (saturation, mostly queueing) is printed too.
 */
function withAddedP99(outcome: Outcome, latency: LatencyComparison, maxMs: number): Outcome {
  const added = latency.addedP99Ms;
  const met = added.median <= maxMs;
  const ms = (n: number) => n.toFixed(3);
  const range = (x: { median: number; min: number; max: number }) => `${ms(x.median)} ms [${ms(x.min)}–${ms(x.max)}]`;
  const closed = spread(outcome.comparison.rounds.map((r) => r.a.latencyMs.p99 - r.b.latencyMs.p99));
  outcome.notes.unshift(
    `added p99 A − B at ${latency.rate} req/s open loop (target ≤ ${maxMs} ms): ${range(added)} → ${met ? 'MET' : 'MISSED'}; ` +
      `p99 A ${ms(latency.a.p99.median)} vs B ${ms(latency.b.p99.median)} ms (pooled over rounds ${ms(latency.a.pooled.p99)} vs ` +
      `${ms(latency.b.pooled.p99)}), p50 A ${ms(latency.a.p50.median)} vs B ${ms(latency.b.p50.median)} ms`,
    `added p99 A − B at saturation (closed loop, -c ${CONNECTIONS}; mostly queueing, not judged): ${range(closed)}`,
  );
  outcome.comparison.warnings.push(...latency.warnings);
  if (!met && outcome.verdict === 'met') outcome.verdict = 'missed';
  outcome.extra = { ...outcome.extra, latency: { ...latency, targetAddedP99Ms: maxMs, met }, closedLoopAddedP99Ms: closed };
  return outcome;
}

async function probe(server: ServerHandle, path: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${server.url}${path}`, { headers });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${server.label}: GET ${path} answered ${res.status}: ${body.slice(0, 300)}`);
  return body;
}

/** Touches every key once (20 at a time) so the run starts with the per-node caches filled. */
async function touchAll(server: ServerHandle, keys: SeededKey[]) {
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++] as SeededKey;
      await probe(server, `/v1/api-keys/${key.apiKeyId}`, { authorization: `Bearer ${key.key}` });
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
}

function rotating(server: ServerHandle, keys: SeededKey[]): Target {
  let i = 0;
  const first = keys[0] as SeededKey;
  return {
    url: server.url,
    path: `/v1/api-keys/${first.apiKeyId}`,
    next() {
      const key = keys[i % keys.length] as SeededKey;
      i += 1;
      return { path: `/v1/api-keys/${key.apiKeyId}`, headers: { authorization: `Bearer ${key.key}` } };
    },
  };
}

const probes: DbCpuProbe[] = [];

/** Samples the CPU of the backends of one database (and role), if PostgreSQL runs on this machine. */
async function dbProbe(databaseUrl: string, user: string): Promise<DbCpuProbe | undefined> {
  const probe = await createDbCpuProbe(DATABASE_URL, new URL(databaseUrl).pathname.slice(1), user).catch(() => undefined);
  if (probe) probes.push(probe);
  return probe;
}

async function closeProbes() {
  await Promise.all(probes.splice(0).map((p) => p.close().catch(() => {})));
}

const OWNER_ROLE = decodeURIComponent(new URL(DATABASE_URL).username) || 'postgres';

async function withServers<T>(starts: Array<Promise<ServerHandle>>, fn: (servers: ServerHandle[]) => Promise<T>): Promise<T> {
  const settled = await Promise.allSettled(starts);
  const servers = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  try {
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return await fn(servers);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function main() {
  const startedAt = new Date();
  const args = process.argv.slice(2);
  const knowledge = args.length === 0 || args.some((a) => KNOWLEDGE_NAMES.has(a.toLowerCase()) || a.toLowerCase() === 'all');
  const rest = args.filter((a) => !KNOWLEDGE_NAMES.has(a.toLowerCase()));
  const names = args.length > 0 && rest.length === 0 ? [] : parseNames(rest);
  pinSelf();
  const watchdog = setTimeout(() => {
    log(`benchmark exceeded BENCH_MAX_MINUTES=${MAX_MINUTES}; stopping`);
    void shutdown(3);
  }, MAX_MINUTES * 60_000);
  watchdog.unref();

  const postgres = await postgresReachable(DATABASE_URL);
  const redis = names.includes('b4') && (await redisReachable(REDIS_URL));
  log(
    `Palazzo benchmarks: ${names.join(', ')} + noise guard; ${SETTINGS.rounds} rounds × (${SETTINGS.warmupSeconds} s warm-up + ` +
      `${SETTINGS.seconds} s) per leg, -c ${CONNECTIONS} -p 1; PostgreSQL ${postgres ? 'yes' : 'NO'}; ` +
      `Palazzo with its in-memory rate limiter (no Redis) except B4's candidate${names.includes('b4') ? ` (Redis ${redis ? 'yes' : 'NO'})` : ''}`,
  );

  const outcomes: Outcome[] = [];
  const skipped: Array<{ name: string; reason: string }> = [];

  // Noise guard: Fastify hello (A) vs node:http (B), every run.
  const noise = await withServers(
    [startServer('fastify-hello', 'fastify hello'), startServer('node-hello', 'node:http hello')],
    async ([fastify, node]) =>
      compare(
        'noise',
        { label: 'fastify hello', server: fastify!, target: { url: fastify!.url, path: '/' } },
        {
          label: 'node:http hello',
          server: node!,
          target: { url: node!.url, path: '/' },
        },
        log,
      ),
  );
  // The published Fastify/node:http figure (0.9–1.0) is a req/s ratio, so the guard judges req/s.
  const noiseOutcome = judge(noise, { metric: 'rps', op: 'within', value: 0.8, max: 1.15, note: 'Fastify req/s / node:http req/s' });
  const noisy = noiseOutcome.verdict === 'noisy';
  log(`\n${formatOutcome(noiseOutcome)}\n`);

  // The PostgreSQL dataset of B1 and B2 (one tenant, one key, created through the API).
  let pgData: Promise<{ url: string; seeded: SeededKey }> | undefined;
  const pgDataset = () => {
    pgData ??= postgresDataset(DATABASE_URL, 'b2');
    return pgData;
  };

  for (const name of names) {
    if ((name === 'b2-postgres' || name === 'b8' || name === 'b10' || name === 'fairness') && !postgres) {
      skipped.push({ name, reason: `PostgreSQL not reachable at ${DATABASE_URL}` });
      continue;
    }
    if (name === 'b4' && !redis) {
      skipped.push({ name, reason: `Redis not reachable at ${REDIS_URL}` });
      continue;
    }
    log(`\n=== ${name} ===`);
    let outcome: Outcome;
    if (name === 'b1') {
      // No DB on the hot path; the app still needs a database to start (PostgreSQL when available).
      const dataset = postgres
        ? await pgDataset()
        : await pgliteDatasets().then((d) => ({ url: undefined, dir: d.dirA, seeded: d.seeded }));
      const env = 'dir' in dataset ? palazzoEnv({ dataDir: dataset.dir }) : palazzoEnv({ databaseUrl: dataset.url });
      const auth = { authorization: `Bearer ${dataset.seeded.key}` };
      const app = await startServer('palazzo', 'palazzo', env);
      try {
        const body = await probe(app, '/v1/me', auth);
        const comparison = await withServers([startServer('fastify-me-static', 'fastify static', { BENCH_BODY: body })], ([bare]) =>
          compare(
            'b1',
            { label: 'Palazzo GET /v1/me (API key)', server: app, target: { url: app.url, path: '/v1/me', headers: auth } },
            { label: 'bare Fastify, same schema', server: bare!, target: { url: bare!.url, path: '/v1/me' } },
            log,
          ),
        );
        outcome = judge(comparison, { metric: 'cpu', op: '>=', value: 0.8 }, [
          `database behind the app: ${postgres ? 'PostgreSQL' : 'PGlite'}`,
        ]);
      } finally {
        await app.stop();
      }
    } else if (name === 'b2-postgres' || name === 'b2-pglite') {
      const onPg = name === 'b2-postgres';
      const data = onPg ? await pgDataset() : await pgliteDatasets();
      const { seeded } = data;
      const aEnv = 'dirA' in data ? palazzoEnv({ dataDir: data.dirA }) : palazzoEnv({ databaseUrl: data.url });
      const bStart =
        'dirB' in data
          ? startServer('plain-read-pglite', 'plain read (PGlite)', { BENCH_PGLITE_DIR: `${data.dirB}/pglite` })
          : startServer('plain-read-postgres', 'plain read (PostgreSQL)', { BENCH_PLAIN_URL: data.url });
      const auth = { authorization: `Bearer ${seeded.key}` };
      const aPath = `/v1/api-keys/${seeded.apiKeyId}`;
      const bPath = `/plain/${seeded.tenantId}/api-keys/${seeded.apiKeyId}`;
      const comparison = await withServers([startServer('palazzo', 'palazzo', aEnv), bStart], async ([app, plain]) => {
        const [aBody, bBody] = [JSON.parse(await probe(app!, aPath, auth)), JSON.parse(await probe(plain!, bPath))];
        if (aBody.id !== bBody.id) throw new Error(`${name}: A and B read different rows`);
        const [aDb, bDb] = 'url' in data ? [await dbProbe(data.url, 'palazzo_app'), await dbProbe(data.url, OWNER_ROLE)] : [];
        return compare(
          name,
          { label: 'API key + RLS tx (palazzo_app)', server: app!, target: { url: app!.url, path: aPath, headers: auth }, db: aDb },
          { label: 'no auth, owner, autocommit', server: plain!, target: { url: plain!.url, path: bPath }, db: bDb },
          log,
        );
      });
      const notes = [
        `B2 A req/s vs Fastify hello req/s (noise guard, same run): ${(comparison.a.rps.median / noise.a.rps.median).toFixed(2)} (target ≥ 0.25)`,
      ];
      outcome = judge(comparison, onPg ? { metric: 'rps', op: '>=', value: 0.65 } : undefined, notes);
    } else if (name === 'b4') {
      // B1's request on two whole apps: rate limiter on Redis (A) vs in memory (B). No DB on this path;
      // the apps still need a database (one PostgreSQL database for both, or two copies of PGlite).
      let aEnv: Record<string, string>;
      let bEnv: Record<string, string>;
      let seeded: SeededKey;
      if (postgres) {
        const d = await pgDataset();
        [aEnv, bEnv, seeded] = [palazzoEnv({ databaseUrl: d.url, redisUrl: REDIS_URL }), palazzoEnv({ databaseUrl: d.url }), d.seeded];
      } else {
        const d = await pgliteDatasets();
        [aEnv, bEnv, seeded] = [palazzoEnv({ dataDir: d.dirA, redisUrl: REDIS_URL }), palazzoEnv({ dataDir: d.dirB }), d.seeded];
      }
      const auth = { authorization: `Bearer ${seeded.key}` };
      const [comparison, latency] = await withServers(
        [startServer('palazzo', 'palazzo (Redis limiter)', aEnv), startServer('palazzo', 'palazzo (memory limiter)', bEnv)],
        async ([onRedis, inMemory]) => {
          for (const server of [onRedis!, inMemory!]) await probe(server, '/v1/me', auth);
          const a = { label: 'GET /v1/me, limiter on Redis', url: onRedis!.url, path: '/v1/me', headers: auth };
          const b = { label: 'GET /v1/me, limiter in memory', url: inMemory!.url, path: '/v1/me', headers: auth };
          return [
            await compare('b4', { label: a.label, server: onRedis!, target: a }, { label: b.label, server: inMemory!, target: b }, log),
            await compareLatency('b4', a, b, LATENCY_RPS, SETTINGS, log),
          ] as const;
        },
      );
      outcome = withAddedP99(
        judge(comparison, { metric: 'rps', op: '>=', value: 0.6 }, [
          `Redis at ${REDIS_URL} (A also uses it for cache-invalidation pub/sub); server CPU excludes redis-server's own CPU`,
          `database behind the apps (not on this path): ${postgres ? 'PostgreSQL' : 'PGlite'}`,
        ]),
        latency,
        1,
      );
    } else if (name === 'b8') {
      // B2's request on two whole apps, each on its own copy of the dataset (so each leg's PostgreSQL
      // backends, flushes included, are measured apart): metering on (A) vs PALAZZO_METERING=off (B).
      const [on, off] = await Promise.all([postgresDataset(DATABASE_URL, 'b8_on'), postgresDataset(DATABASE_URL, 'b8_off')]);
      const [comparison, latency] = await withServers(
        [
          startServer('palazzo', 'palazzo (metering on)', { ...palazzoEnv({ databaseUrl: on.url }), PALAZZO_METERING: 'on' }),
          startServer('palazzo', 'palazzo (metering off)', { ...palazzoEnv({ databaseUrl: off.url }), PALAZZO_METERING: 'off' }),
        ],
        async ([metered, unmetered]) => {
          const target = (server: ServerHandle, seeded: SeededKey) => ({
            url: server.url,
            path: `/v1/api-keys/${seeded.apiKeyId}`,
            headers: { authorization: `Bearer ${seeded.key}` },
          });
          const [ta, tb] = [target(metered!, on.seeded), target(unmetered!, off.seeded)];
          await probe(metered!, ta.path, ta.headers);
          await probe(unmetered!, tb.path, tb.headers);
          const [la, lb] = ['B2 read, metering on', 'B2 read, metering off'];
          return [
            await compare(
              'b8',
              { label: la, server: metered!, target: ta, db: await dbProbe(on.url, 'palazzo_app') },
              { label: lb, server: unmetered!, target: tb, db: await dbProbe(off.url, 'palazzo_app') },
              log,
            ),
            await compareLatency('b8', { label: la, ...ta }, { label: lb, ...tb }, LATENCY_RPS, SETTINGS, log),
          ] as const;
        },
      );
      const flushMs = process.env.PALAZZO_USAGE_FLUSH_MS || '5000';
      outcome = withAddedP99(
        judge(comparison, { metric: 'rps', op: '>=', value: 0.95 }, [
          `A flushes its counts every ${flushMs} ms (PALAZZO_USAGE_FLUSH_MS); B runs without the metering hook (PALAZZO_METERING=off)`,
        ]),
        latency,
        0.2,
      );
    } else if (name === 'b9') {
      // B2's read on one server while 20 password logins a second (production Argon2id: the server
      // runs with the default PALAZZO_ARGON2_* and hashing gate) hit the same server (A), vs the read alone (B).
      const dataset = postgres
        ? await pgDataset()
        : await pgliteDatasets().then((d) => ({ url: undefined, dir: d.dirA, seeded: d.seeded }));
      const env = 'dir' in dataset ? palazzoEnv({ dataDir: dataset.dir }) : palazzoEnv({ databaseUrl: dataset.url as string });
      const { seeded } = dataset;
      if (!seeded.slug || !seeded.ownerEmail) throw new Error('b9: the dataset has no owner to sign in');
      const auth = { authorization: `Bearer ${seeded.key}` };
      const path = `/v1/api-keys/${seeded.apiKeyId}`;
      const storm = await withServers([startServer('palazzo', 'palazzo', env)], async ([app]) => {
        await probe(app!, path, auth);
        const storm = loginStorm(
          app!.url,
          { tenant: seeded.slug as string, email: seeded.ownerEmail as string, password: BENCH_PASSWORD },
          LOGINS_PER_SECOND,
        );
        // The first login rehashes the cheaply seeded password with the production parameters.
        storm.start();
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await storm.stop();
        storm.windows.length = 0;
        const target = { url: app!.url, path, headers: auth };
        const comparison = await compare(
          'b9',
          { label: `B2 read + ${LOGINS_PER_SECOND} logins/s`, server: app!, target, during: storm },
          { label: 'B2 read alone', server: app!, target },
          log,
        );
        return { comparison, windows: storm.windows };
      });
      const { comparison, windows } = storm;
      const lagA = spread(comparison.rounds.map((r) => r.a.loopLag?.p99Ms ?? Number.NaN));
      const lagB = spread(comparison.rounds.map((r) => r.b.loopLag?.p99Ms ?? Number.NaN));
      const loginP95 = spread(windows.map((w) => w.p95Ms));
      const sum = (key: 'sent' | 'ok' | 'busy' | 'other' | 'errors') => windows.reduce((n, w) => n + w[key], 0);
      const lagMet = lagA.median <= 20;
      const loginMet = loginP95.median <= 150;
      outcome = judge(comparison, { metric: 'rps', op: '>=', value: 0.7 }, [
        `event-loop delay p99 during A (target ≤ 20 ms): ${lagA.median.toFixed(1)} ms [${lagA.min.toFixed(1)}–${lagA.max.toFixed(1)}] → ${lagMet ? 'MET' : 'MISSED'}; during B ${lagB.median.toFixed(1)} ms`,
        `login p95 (target ≤ 150 ms): ${loginP95.median.toFixed(1)} ms [${loginP95.min.toFixed(1)}–${loginP95.max.toFixed(1)}] → ${loginMet ? 'MET' : 'MISSED'}`,
        `logins over the A windows: sent ${sum('sent')}, ${sum('ok')} 200, ${sum('busy')} 503 server_busy, ${sum('other')} other, ${sum('errors')} errors`,
        `database: ${postgres ? 'PostgreSQL' : 'PGlite'}; server pinned to one CPU, so the hashing gate allows one Argon2id at a time`,
      ]);
      if ((!lagMet || !loginMet) && outcome.verdict === 'met') outcome.verdict = 'missed';
      outcome.extra = { loginStorm: { perSecond: LOGINS_PER_SECOND, windows, loopLagP99Ms: { a: lagA, b: lagB }, loginP95Ms: loginP95 } };
    } else if (name === 'fairness') {
      const floodLimits = { requestsPerMinute: FAIRNESS.floodLimitPerMinute, apiCallsPerMonth: BENCH_LIMITS.apiCallsPerMonth };
      const otherLimits = { requestsPerMinute: FAIRNESS.otherLimitPerMinute, apiCallsPerMonth: BENCH_LIMITS.apiCallsPerMonth };
      const { url, keys } = await postgresTenantsDataset(DATABASE_URL, 'fairness', [
        { customLimits: floodLimits },
        { customLimits: otherLimits },
        { customLimits: otherLimits },
        { customLimits: otherLimits },
      ]);
      const [flood, ...others] = keys as [SeededKey, ...SeededKey[]];
      const floodRate = (FAIRNESS.floodLimitPerMinute * FAIRNESS.floodMultiple) / 60;
      log(
        `fairness: F limited to ${FAIRNESS.floodLimitPerMinute}/min, flooding at ${floodRate.toFixed(0)} req/s (${FAIRNESS.floodMultiple}×); ` +
          `O1..O3 limited to ${FAIRNESS.otherLimitPerMinute}/min, ${FAIRNESS.otherRate} req/s each; open loop, B2's request`,
      );
      const result = await withServers([startServer('palazzo', 'palazzo', palazzoEnv({ databaseUrl: url }))], async ([app]) => {
        for (const key of keys) await probe(app!, `/v1/api-keys/${key.apiKeyId}`, { authorization: `Bearer ${key.key}` });
        return runFairness(app!, others, flood, log);
      });
      const fairOk = result.othersNon2xx === 0 && result.othersErrors === 0 && result.flood.rateLimited > 0;
      outcome = judge(result.comparison, { metric: 'p99', op: '<=', value: 2 }, [
        `others' p99 pooled over all rounds: ${result.pooled.flood.p99.toFixed(2)} ms with the flood vs ${result.pooled.quiet.p99.toFixed(2)} ms ` +
          `without (ratio ${(result.pooled.flood.p99 / result.pooled.quiet.p99).toFixed(2)}); p50 ${result.pooled.flood.p50.toFixed(2)} vs ` +
          `${result.pooled.quiet.p50.toFixed(2)} ms`,
        `others' non-2xx over all measured windows: ${result.othersNon2xx} (errors ${result.othersErrors}); target 0`,
        `F over its flood windows: sent ${result.flood.sent}, ${result.flood.ok} 2xx, ${result.flood.rateLimited} 429, ` +
          `${result.flood.otherNon2xx} other non-2xx, ${result.flood.errors} errors; target: 429s`,
        `open loop (evenly spaced requests, own connections per tenant); in-memory rate limiter; latency ratio A/B of the others' pooled percentiles; ` +
          `server CPU µs/req counts every response, F's 429s included`,
      ]);
      if (!fairOk && outcome.verdict === 'met') outcome.verdict = 'missed';
      outcome.extra = {
        fairness: {
          settings: FAIRNESS,
          floodRate,
          flood: result.flood,
          othersNon2xx: result.othersNon2xx,
          othersErrors: result.othersErrors,
          pooled: result.pooled,
          detail: result.detail,
        },
      };
    } else {
      log(`seeding B10: ${B10_TENANTS} and ${B10_SMALL_TENANTS} tenants, ${B10_ROWS} API keys (+ as many secrets) each`);
      const many = await tenantCountDataset(DATABASE_URL, 'b10_many', B10_TENANTS, B10_ROWS);
      const few = await tenantCountDataset(DATABASE_URL, 'b10_few', B10_SMALL_TENANTS, B10_ROWS);
      const comparison = await withServers(
        [
          startServer('palazzo', 'palazzo many', palazzoEnv({ databaseUrl: many.url })),
          startServer('palazzo', 'palazzo few', palazzoEnv({ databaseUrl: few.url })),
        ],
        async ([a, b]) => {
          log('touching every key once (fills the per-node caches)');
          await Promise.all([touchAll(a!, many.keys), touchAll(b!, few.keys)]);
          return compare(
            'b10',
            {
              label: `B2 read, ${B10_TENANTS} tenants`,
              server: a!,
              target: rotating(a!, many.keys),
              db: await dbProbe(many.url, 'palazzo_app'),
            },
            {
              label: `B2 read, ${B10_SMALL_TENANTS} tenants`,
              server: b!,
              target: rotating(b!, few.keys),
              db: await dbProbe(few.url, 'palazzo_app'),
            },
            log,
          );
        },
      );
      log('EXPLAIN ANALYZE of the B2 read on both datasets (planning and execution time)');
      const explain = await compareExplain(many, few, SETTINGS.rounds);
      const ms = (s: { median: number }) => s.median.toFixed(3);
      outcome = judge(comparison, { metric: 'p95', op: '<=', value: 1.2 }, [
        `requests rotate over every tenant's key; same ${B10_ROWS} api_keys rows (and secrets) in both databases`,
        `EXPLAIN planning time ratio (target ≤ 1.2): ${ratioText(explain.planningRatio)} (${ms(explain.a.planningMs)} vs ${ms(explain.b.planningMs)} ms, ` +
          `ad-hoc statement; the app prepares it once per connection)`,
        `EXPLAIN execution time ratio: ${ratioText(explain.executionRatio)} (${ms(explain.a.executionMs)} vs ${ms(explain.b.executionMs)} ms)`,
        `plan shapes: A ${explain.a.shapes.join(' | ')}; B ${explain.b.shapes.join(' | ')}`,
      ]);
      outcome.extra = { explain };
    }
    await closeProbes();
    outcomes.push(outcome);
    log(`\n${formatOutcome(outcome)}\n`);
  }

  // Summary and JSON.
  const meta = runMetadata(startedAt);
  const noiseJson = { ratios: noise.ratios, verdict: noiseOutcome.verdict, band: [0.8, 1.15], a: noise.a, b: noise.b };
  const files = [writeResult('noise', startedAt, { name: 'noise', ...meta, noisy, comparison: noise })];
  for (const outcome of outcomes) {
    files.push(
      writeResult(outcome.comparison.name, startedAt, {
        name: outcome.comparison.name,
        ...meta,
        noisy,
        noiseGuard: noiseJson,
        target: outcome.target ?? null,
        verdict: outcome.verdict,
        notes: outcome.notes,
        ratios: outcome.comparison.ratios,
        a: outcome.comparison.a,
        b: outcome.comparison.b,
        rounds: outcome.comparison.rounds,
        warnings: outcome.comparison.warnings,
        ...(outcome.extra ?? {}),
      } satisfies Record<string, unknown> & { ratios: Comparison['ratios'] }),
    );
  }

  const lines = ['', '════ summary ════', formatOutcome(noiseOutcome), ...outcomes.map(formatOutcome)];
  for (const s of skipped) lines.push(`── ${s.name} ── SKIPPED: ${s.reason}`);
  if (noisy) lines.push('', '⚠ noise guard outside 0.8–1.15: this run is NOISY; rerun before trusting the ratios.');
  lines.push('', 'results:', ...files.map((f) => `  ${f}`));
  process.stdout.write(`${lines.join('\n')}\n`);
  if (knowledge) {
    log('\n=== knowledge (B5, B6): bench/knowledge.ts ===');
    execFileSync(process.execPath, ['--import', 'tsx', 'bench/knowledge.ts'], { stdio: 'inherit' });
    log('\n=== knowledge ingestion throughput: bench/knowledge-ingest.ts ===');
    execFileSync(process.execPath, ['--import', 'tsx', 'bench/knowledge-ingest.ts'], { stdio: 'inherit' });
  }
}

let shuttingDown = false;
async function shutdown(code: number) {
  if (shuttingDown) return;
  shuttingDown = true;
  killAllServers();
  await closeProbes();
  await cleanupDatasets();
  process.exit(code);
}

process.once('SIGINT', () => void shutdown(130));
process.once('SIGTERM', () => void shutdown(143));

main()
  .then(() => shutdown(0))
  .catch((error: unknown) => {
    log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    void shutdown(1);
  });
