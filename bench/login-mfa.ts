/**
 * Login cost of the session and MFA policy (issue 3), standalone: `node --import tsx bench/login-mfa.ts`.
 *
 * One process, one Palazzo app on PGlite (or PostgreSQL with DATABASE_URL) with the production Argon2id parameters. Interleaved rounds of
 * BENCH_SECONDS each, sequential (one at a time, so the figure is the cost of one login):
 *   A. `POST /v1/auth/login` through `app.inject` with the login policy as shipped (risk signals,
 *      `login_risk` event, session) for a known device;
 *   B. the same with `security.adaptiveMfa` off for the tenant (no risk queries);
 *   C. raw `passwords.verify` of the same password (the Argon2id floor).
 * Printed per round and as median [min, max]: logins/s A/C (the "login throughput vs raw
 * Argon2id", target ≥ 0.8) and A/B (what the adaptive checks cost).
 *
 * Environment: BENCH_ROUNDS (3), BENCH_SECONDS (4), DATABASE_URL (PostgreSQL instead of PGlite).
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/platform/config.ts';
import { migrate } from '../src/platform/db/migrate.ts';
import { openDatabase } from '../src/platform/db/open.ts';
import { createPgliteDatabase } from '../src/platform/db/pglite.ts';
import { cleanupDatasets, createDatabase } from './lib/datasets.ts';
import { spread } from './lib/stats.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const PASSWORD = 'a long benchmark passphrase';
const log = (line: string) => process.stderr.write(`${line}\n`);

async function main() {
  // PGlite in memory, or PostgreSQL when DATABASE_URL is set (the database runs in its own process).
  // On PostgreSQL, a database of its own (created here, dropped at the end).
  const databaseUrl = process.env.DATABASE_URL ? await createDatabase(process.env.DATABASE_URL, 'login') : undefined;
  const config = loadConfig(
    { PALAZZO_DATA_DIR: os.tmpdir(), PALAZZO_LOG_LEVEL: 'silent', DATABASE_URL: databaseUrl },
    { masterKey: randomBytes(32) },
  );
  const db = config.databaseUrl ? await openDatabase(config) : await createPgliteDatabase();
  await migrate(db);
  log(`database: ${db.kind}`);
  const palazzo = await buildApp({ config, db });
  const { app, services } = palazzo;
  const slugs: string[] = [];
  for (const label of ['adaptive', 'plain']) {
    const slug = `bench-${label}-${randomBytes(4).toString('hex')}`;
    await services.tenants.create({
      slug,
      name: slug,
      tier: 'custom',
      owner: { email: `owner@${slug}.test`, name: 'Owner', password: PASSWORD },
    });
    slugs.push(slug);
  }
  const login = (slug: string) =>
    app.inject({ method: 'POST', url: '/v1/auth/login', payload: { tenant: slug, email: `owner@${slug}.test`, password: PASSWORD } });
  const owner = (await login(slugs[1] as string)).json().accessToken as string;
  const off = await app.inject({
    method: 'PATCH',
    url: '/v1/config',
    headers: { authorization: `Bearer ${owner}`, 'if-match': '*' },
    payload: { security: { adaptiveMfa: false } },
  });
  if (off.statusCode !== 200) throw new Error(off.body);
  // Settle the adaptive tenant's baseline (first login) and check both answer tokens.
  for (const slug of slugs) {
    const res = await login(slug);
    if (res.statusCode !== 200 || !res.json().accessToken) throw new Error(res.body);
  }
  const hash = await services.passwords.hash(PASSWORD);
  const legs: Record<string, () => Promise<unknown>> = {
    A: () => login(slugs[0] as string),
    B: () => login(slugs[1] as string),
    C: () => services.passwords.verify(hash, PASSWORD),
  };
  const rate = async (fn: () => Promise<unknown>) => {
    const end = performance.now() + SECONDS * 1000;
    let n = 0;
    const start = performance.now();
    while (performance.now() < end) {
      await fn();
      n += 1;
    }
    return (n * 1000) / (performance.now() - start);
  };
  const ac: number[] = [];
  const ab: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = round % 2 === 0 ? ['A', 'B', 'C'] : ['C', 'B', 'A'];
    const r: Record<string, number> = {};
    for (const leg of order) r[leg] = await rate(legs[leg] as () => Promise<unknown>);
    ac.push((r.A as number) / (r.C as number));
    ab.push((r.A as number) / (r.B as number));
    log(`round ${round + 1}: login ${r.A?.toFixed(1)}/s, adaptive off ${r.B?.toFixed(1)}/s, argon2 ${r.C?.toFixed(1)}/s`);
  }
  const fmt = (s: { median: number; min: number; max: number }) => `${s.median.toFixed(3)} [${s.min.toFixed(3)}, ${s.max.toFixed(3)}]`;
  log(`login / raw Argon2id verify: ${fmt(spread(ac))} (target >= 0.8)`);
  log(`login / login without adaptive checks: ${fmt(spread(ab))}`);
  await app.close();
  await db.close();
  await cleanupDatasets();
}

await main();
