/**
 * Benchmark orchestrator: `npm run bench` (everything) or `npm run bench -- b2` (one benchmark).
 * Names: noise, b1, b2 (= b2-postgres + b2-pglite), b2-postgres, b2-pglite, b10. The noise guard
 * (Fastify hello vs node:http) runs in every run. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { type Comparison, compare, SETTINGS } from './lib/compare.ts';
import {
  cleanupDatasets,
  palazzoEnv,
  pgliteDatasets,
  postgresDataset,
  postgresReachable,
  type SeededKey,
  tenantCountDataset,
} from './lib/datasets.ts';
import { createDbCpuProbe, type DbCpuProbe } from './lib/dbcpu.ts';
import { compareExplain } from './lib/explain.ts';
import { CONNECTIONS, type Target } from './lib/load.ts';
import { formatOutcome, judge, type Outcome, runMetadata, writeResult } from './lib/report.ts';
import { killAllServers, LOAD_CPU, type ServerHandle, startServer } from './lib/servers.ts';

const ALL = ['b1', 'b2-postgres', 'b2-pglite', 'b10'] as const;
type Name = (typeof ALL)[number];

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const B10_TENANTS = Number(process.env.BENCH_B10_TENANTS ?? 10_000);
const B10_SMALL_TENANTS = Number(process.env.BENCH_B10_SMALL_TENANTS ?? 10);
const B10_ROWS = Number(process.env.BENCH_B10_ROWS ?? 100_000);
const MAX_MINUTES = Number(process.env.BENCH_MAX_MINUTES ?? 60);

const log = (line: string) => process.stderr.write(`${line}\n`);
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
  const names = parseNames(process.argv.slice(2));
  pinSelf();
  const watchdog = setTimeout(() => {
    log(`benchmark exceeded BENCH_MAX_MINUTES=${MAX_MINUTES}; stopping`);
    void shutdown(3);
  }, MAX_MINUTES * 60_000);
  watchdog.unref();

  const postgres = await postgresReachable(DATABASE_URL);
  log(
    `Palazzo benchmarks: ${names.join(', ')} + noise guard; ${SETTINGS.rounds} rounds × (${SETTINGS.warmupSeconds} s warm-up + ` +
      `${SETTINGS.seconds} s) per leg, -c ${CONNECTIONS} -p 1; PostgreSQL ${postgres ? 'yes' : 'NO'}; Palazzo with its in-memory rate limiter (no Redis)`,
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
    if ((name === 'b2-postgres' || name === 'b10') && !postgres) {
      skipped.push({ name, reason: `PostgreSQL not reachable at ${DATABASE_URL}` });
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
