/**
 * Retrieval benchmarks B5 and B6 (/work/shared/BENCHMARKS.md), on PGlite with pgvector, in process:
 * `npm run bench:knowledge` (or `npm run bench -- knowledge`).
 *
 * Dataset: BENCH_KNOWLEDGE_CHUNKS chunks (20,000) over 100 tenants, 384 dimensions, clustered unit
 * vectors and texts of 12 words from a 600-word vocabulary; one large tenant (25%), one small (1%),
 * 98 others sharing the rest. The HNSW index is built after the load (its build time is printed).
 *
 * B5: A = the production retriever (hybrid: FTS top-40 + vector top-40, weighted RRF k=60, top-10, one
 *     statement, inside withTenant), rotating over the 98 ordinary tenants and 50 queries of 1–4 terms;
 *     B = a raw tenant-filtered exact vector top-10 (btree prefilter) in a tenant transaction.
 *     p95 ratio A/B per round, target ≤ 2.5.
 * B6: the retriever's vector leg (keyword weight 0) for the small tenant (exact path) and the large one
 *     (HNSW with iterative scan), B = exact top-10 of the same tenant: always k, recall@10 ≥ 0.95,
 *     p95 ratio small ≤ 1.2, large ≤ 0.5.
 * Rounds alternate A B / B A; each leg runs BENCH_KNOWLEDGE_QUERIES queries per round after a warm-up.
 * PGlite runs on one thread, so queries are sequential: these are latencies of one query at a time.
 */
import { randomUUID } from 'node:crypto';
import { BUILTIN_DEFAULTS, type EffectiveConfig } from '../src/modules/config/index.ts';
import { createRetriever, type KnowledgeRetriever } from '../src/modules/knowledge/index.ts';
import { exactVectorTopK, HNSW_DIMENSIONS } from '../src/modules/knowledge/retriever.repo.ts';
import type { Database } from '../src/platform/db/database.ts';
import { migrate } from '../src/platform/db/migrate.ts';
import { createPgliteDatabase } from '../src/platform/db/pglite.ts';
import { clusteredVectors, DIMENSIONS, FAKE_MODEL, seedSyntheticChunks, vectorText } from '../test/knowledge/retrieval-support.ts';
import { runMetadata, writeResult } from './lib/report.ts';
import { percentileOfSorted, sorted, spread } from './lib/stats.ts';

const CHUNKS = Number(process.env.BENCH_KNOWLEDGE_CHUNKS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const QUERIES = Number(process.env.BENCH_KNOWLEDGE_QUERIES ?? 100);
const TENANTS = 100;
const log = (line: string) => process.stderr.write(`${line}\n`);

function rng(seed: number) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4_294_967_296;
  };
}

const WORDS = Array.from({ length: 600 }, (_, i) => `term${i.toString(36)}x`);

function texts(count: number, seed: number): string[] {
  const random = rng(seed);
  return Array.from({ length: count }, () => Array.from({ length: 12 }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' '));
}

function configFor(retrieval: Partial<EffectiveConfig['retrieval']>) {
  const document = { ...BUILTIN_DEFAULTS, retrieval: { ...BUILTIN_DEFAULTS.retrieval, ...retrieval } } as EffectiveConfig;
  return { get: async () => document };
}

type Leg = { run(i: number): Promise<string[]> };

async function time(leg: Leg, count: number, offset: number): Promise<{ ms: number[]; ids: string[][] }> {
  const ms: number[] = [];
  const ids: string[][] = [];
  for (let i = 0; i < count; i += 1) {
    const started = process.hrtime.bigint();
    ids.push(await leg.run(offset + i));
    ms.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return { ms, ids };
}

const p = (values: number[], q: number) => percentileOfSorted(sorted(values), q);

/** Interleaved rounds of A and B; per-round p95 ratio A/B, plus pooled p50/p95 and A's results. */
async function compareLegs(name: string, a: Leg, b: Leg) {
  await time(a, 20, 0);
  await time(b, 20, 0);
  const ratios: number[] = [];
  const all = { a: [] as number[], b: [] as number[] };
  const results: Array<{ i: number; a: string[]; b: string[] }> = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const offset = round * QUERIES;
    const order = round % 2 === 0 ? ([a, b] as const) : ([b, a] as const);
    const first = await time(order[0], QUERIES, offset);
    const second = await time(order[1], QUERIES, offset);
    const [ra, rb] = round % 2 === 0 ? [first, second] : [second, first];
    all.a.push(...ra.ms);
    all.b.push(...rb.ms);
    ratios.push(p(ra.ms, 95) / p(rb.ms, 95));
    for (const [i, ids] of ra.ids.entries()) results.push({ i: offset + i, a: ids, b: rb.ids[i] as string[] });
    log(
      `  ${name} round ${round + 1}: A p95 ${p(ra.ms, 95).toFixed(2)} ms, B p95 ${p(rb.ms, 95).toFixed(2)} ms, ratio ${(ratios.at(-1) as number).toFixed(2)}`,
    );
  }
  return {
    ratio: spread(ratios),
    a: { p50: p(all.a, 50), p95: p(all.a, 95) },
    b: { p50: p(all.b, 50), p95: p(all.b, 95) },
    results,
  };
}

async function main() {
  const startedAt = new Date();
  const db = (await createPgliteDatabase()) as Database & { pglite: { query: (sql: string) => Promise<unknown> } };
  await migrate(db);
  const sizes = { large: Math.round(CHUNKS * 0.25), small: Math.round(CHUNKS * 0.01) };
  const ordinary = Array.from({ length: TENANTS - 2 }, () => randomUUID());
  const large = randomUUID();
  const small = randomUUID();
  const perOrdinary = Math.floor((CHUNKS - sizes.large - sizes.small) / ordinary.length);
  log(
    `B5/B6 dataset: ${CHUNKS} chunks, ${TENANTS} tenants (large ${sizes.large}, small ${sizes.small}, 98 × ${perOrdinary}), ${DIMENSIONS} dims`,
  );

  await db.withOwner(async (tx) => {
    await tx.query(`INSERT INTO tiers (name, limits) VALUES ('bench', '{}') ON CONFLICT DO NOTHING`);
    for (const id of [large, small, ...ordinary]) {
      await tx.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, $2, 'bench', 'active')`, [
        id,
        `k-${id.slice(0, 12)}`,
      ]);
    }
    // Bulk load without the HNSW index, then build it once (as an operator would for a large import).
    await tx.query('DROP INDEX knowledge_chunk_vectors_hnsw_384');
  });
  let loadStarted = Date.now();
  let seed = 1;
  const load = async (tenantId: string, count: number) => {
    seed += 1;
    await seedSyntheticChunks(db, tenantId, clusteredVectors(count, seed, 40), true, texts(count, seed));
  };
  await load(large, sizes.large);
  await load(small, sizes.small);
  for (const id of ordinary) await load(id, perOrdinary);
  log(`loaded in ${((Date.now() - loadStarted) / 1000).toFixed(1)} s`);
  loadStarted = Date.now();
  await db.withOwner((tx) =>
    tx.query(
      `CREATE INDEX knowledge_chunk_vectors_hnsw_384 ON knowledge_chunk_vectors
         USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dimensions = 384`,
    ),
  );
  const buildSeconds = (Date.now() - loadStarted) / 1000;
  log(`HNSW index (m=16, ef_construction=64) built in ${buildSeconds.toFixed(1)} s`);
  await db.withOwner((tx) => tx.query('ANALYZE'));

  // Queries: 50 texts of 1–4 rotating terms, each with a vector near the data.
  const random = rng(7);
  const queryTexts = Array.from({ length: 50 }, (_, i) =>
    Array.from({ length: 1 + (i % 4) }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' '),
  );
  const queryVectors = clusteredVectors(50, 4242, 40);
  const vectorOf = new Map(queryTexts.map((t, i) => [t, queryVectors[i] as number[]]));
  const embedder = {
    async embed(_tenantId: string, values: string[]) {
      return { vectors: values.map((v) => vectorOf.get(v) as number[]), model: FAKE_MODEL, dimensions: DIMENSIONS, tokens: 0 };
    },
  };
  const exact = (tenantId: string, i: number) =>
    db.withTenant(tenantId, (tx) => exactVectorTopK(tx, tenantId, vectorText(queryVectors[i % 50] as number[]), DIMENSIONS, 10));
  const viaRetriever = (retriever: KnowledgeRetriever, tenantId: string, i: number) =>
    retriever.search(tenantId, { query: queryTexts[i % 50] as string, topK: 10 }).then((r) => r.passages.map((p) => p.chunkId));

  // Plan check: the large tenant's vector leg must use the HNSW index.
  const plan = await db.withTenant(large, async (tx) => {
    await tx.query(`SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', '100', true)`);
    const { rows } = await tx.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT chunk_id FROM knowledge_chunk_vectors v WHERE v.tenant_id = $1 AND v.dimensions = 384 AND v.model = $3
        ORDER BY v.embedding::vector(384) <=> $2::vector(384) LIMIT 40`,
      [large, vectorText(queryVectors[0] as number[]), FAKE_MODEL],
    );
    return rows.map((r) => r['QUERY PLAN'].replace(/'\[[^\]]*\]'/g, "'[…]'")).join(' / ');
  });
  log(`large tenant vector leg plan: ${plan}`);

  // B5.
  log('\n=== B5: hybrid retrieval vs exact tenant-filtered vector top-10 ===');
  const hybrid = createRetriever({
    db,
    config: configFor({ candidatesPerLeg: 40, topK: 10, minScore: 0, reranker: 'none' }),
    embedder,
  });
  const b5 = await compareLegs(
    'B5',
    { run: (i) => viaRetriever(hybrid, ordinary[i % ordinary.length] as string, i) },
    { run: (i) => exact(ordinary[i % ordinary.length] as string, i) },
  );

  // B6.
  const vectorOnly = createRetriever({
    db,
    config: configFor({ candidatesPerLeg: 40, topK: 10, minScore: 0, reranker: 'none', weights: { vector: 1, keyword: 0 } }),
    embedder,
  });
  const b6: Record<string, unknown> = {};
  const b6Lines: string[] = [];
  for (const [label, tenantId, target] of [
    ['small', small, 1.2],
    ['large', large, 0.5],
  ] as const) {
    log(`\n=== B6 ${label} tenant (${sizes[label]} vectors): retrieval path vs exact top-10 ===`);
    const method = (await vectorOnly.search(tenantId, { query: queryTexts[0] as string })).vectorSearch;
    const r = await compareLegs(`B6-${label}`, { run: (i) => viaRetriever(vectorOnly, tenantId, i) }, { run: (i) => exact(tenantId, i) });
    let overlap = 0;
    let short = 0;
    for (const { a, b } of r.results) {
      if (a.length < 10) short += 1;
      const got = new Set(a);
      overlap += b.filter((id) => got.has(id)).length;
    }
    const recall = overlap / (r.results.length * 10);
    b6[label] = { vectors: sizes[label], method, ratio: r.ratio, a: r.a, b: r.b, recallAt10: recall, queriesWithFewerThanK: short, target };
    b6Lines.push(
      `B6 ${label} (${sizes[label]} vectors, ${method}): p95 ratio ${r.ratio.median.toFixed(2)} [${r.ratio.min.toFixed(2)}–${r.ratio.max.toFixed(2)}] ` +
        `(target ≤ ${target}) → ${r.ratio.median <= target ? 'MET' : 'MISSED'}; p95 A ${r.a.p95.toFixed(2)} ms vs exact ${r.b.p95.toFixed(2)} ms; ` +
        `recall@10 ${recall.toFixed(3)} (target ≥ 0.95) → ${recall >= 0.95 ? 'MET' : 'MISSED'}; always k: ${short === 0 ? 'yes' : `NO (${short} short)`}`,
    );
  }

  const b5Line =
    `B5: p95 ratio ${b5.ratio.median.toFixed(2)} [${b5.ratio.min.toFixed(2)}–${b5.ratio.max.toFixed(2)}] (target ≤ 2.5) → ` +
    `${b5.ratio.median <= 2.5 ? 'MET' : 'MISSED'}; hybrid p50/p95 ${b5.a.p50.toFixed(2)}/${b5.a.p95.toFixed(2)} ms, exact ${b5.b.p50.toFixed(2)}/${b5.b.p95.toFixed(2)} ms`;
  const lines = [
    '',
    '════ knowledge retrieval (PGlite, in process) ════',
    `dataset: ${CHUNKS} chunks, ${TENANTS} tenants, ${DIMENSIONS} dims; HNSW build ${buildSeconds.toFixed(1)} s; ${ROUNDS} rounds × ${QUERIES} queries per leg`,
    b5Line,
    ...b6Lines,
  ];
  const meta = runMetadata(startedAt);
  const file = writeResult('knowledge', startedAt, {
    name: 'knowledge',
    ...meta,
    dataset: {
      chunks: CHUNKS,
      tenants: TENANTS,
      dimensions: DIMENSIONS,
      hnswBuildSeconds: buildSeconds,
      hnswDimensions: [...HNSW_DIMENSIONS],
    },
    plan,
    b5: { ratio: b5.ratio, a: b5.a, b: b5.b, target: 2.5 },
    b6,
  });
  lines.push('', `results: ${file}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  await db.close();
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
