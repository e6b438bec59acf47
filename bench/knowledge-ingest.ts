/**
 * Knowledge ingestion throughput (issue 6, F-E1), standalone: `npm run bench:knowledge`
 * (`node --import tsx bench/knowledge-ingest.ts`).
 *
 * A (candidate): the real ingestion job body (`createIngestion().ingest`) per stored document: parse in
 * the worker thread, state transitions, structure-aware chunking, and one indexing transaction that
 * writes the chunks with their tsvector (computed by PostgreSQL) and marks the document ready. No
 * embedding provider (as in a tenant without one), so no vectors.
 * B (baseline): raw parse-and-insert: the same parser called in this thread, and the whole extracted
 * text inserted as one row of an unindexed table, in one transaction.
 * Both read the same documents (Markdown and HTML, with headings) from the same database. Rounds are
 * interleaved A B, B A, …; printed per round and as median [min–max]: MB/s of source text for each leg
 * and the ratio A/B (how much of a bare parse-and-store the full pipeline keeps).
 *
 * Environment: BENCH_ROUNDS (5), BENCH_DOCS (8 per leg and round), BENCH_DOC_KB (200),
 * DATABASE_URL to run on PostgreSQL (default: embedded PGlite in a temporary directory).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../src/app.ts';
import type { Embedder } from '../src/modules/ai/index.ts';
import { createIngestion, createParser, type MediaType, parseDocument, DEFAULT_PARSE_LIMITS } from '../src/modules/knowledge/index.ts';
import * as repo from '../src/modules/knowledge/knowledge.repo.ts';
import { loadConfig } from '../src/platform/config.ts';
import type { Database } from '../src/platform/db/database.ts';
import { migrate } from '../src/platform/db/migrate.ts';
import { createPgliteDatabase } from '../src/platform/db/pglite.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import type { Job } from '../src/platform/jobs.ts';
import { spread } from './lib/stats.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DOCS = Number(process.env.BENCH_DOCS ?? 8);
const DOC_KB = Number(process.env.BENCH_DOC_KB ?? 200);
const log = (line: string) => process.stderr.write(`${line}\n`);

const WORDS = 'guest villa terrace breakfast invoice refund garden pool concierge booking dinner boat tour spa reception parking'.split(
  ' ',
);
function sentence(seed: number): string {
  const n = 8 + (seed % 9);
  const words = Array.from({ length: n }, (_, i) => WORDS[(seed * 7 + i * 13) % WORDS.length] as string);
  return `${words.join(' ').replace(/^./, (c) => c.toUpperCase())}.`;
}

function markdown(index: number, bytes: number): string {
  const out: string[] = [`# Handbook ${index}`];
  let size = 0;
  for (let s = 0; size < bytes; s++) {
    const section = `\n\n## Section ${s}\n\n${Array.from({ length: 6 }, (_, p) => Array.from({ length: 5 }, (_, k) => sentence(s * 31 + p * 7 + k)).join(' ')).join('\n\n')}`;
    out.push(section);
    size += section.length;
  }
  return out.join('');
}

function html(index: number, bytes: number): string {
  const body = markdown(index, bytes)
    .split('\n\n')
    .map((block) =>
      block.startsWith('## ') ? `<h2>${block.slice(3)}</h2>` : block.startsWith('# ') ? `<h1>${block.slice(2)}</h1>` : `<p>${block}</p>`,
    )
    .join('\n');
  return `<!doctype html><html><head><style>p{margin:0}</style></head><body>${body}</body></html>`;
}

const noEmbeddings: Embedder = { embed: async () => null };

async function openDatabase(): Promise<{ db: Database; cleanup: () => void }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'palazzo-bench-knowledge-'));
  if (process.env.DATABASE_URL) {
    throw new Error('this benchmark runs on embedded PGlite; PostgreSQL datasets are not wired for it yet');
  }
  const db = await createPgliteDatabase(dir);
  await migrate(db);
  return { db, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

async function main() {
  const { db, cleanup } = await openDatabase();
  const config = loadConfig({ PALAZZO_DATA_DIR: os.tmpdir(), PALAZZO_LOG_LEVEL: 'silent' }, { masterKey: randomBytes(32) });
  const palazzo = await buildApp({ config, db, logger: false, embedder: noEmbeddings });
  const slug = `bench-knowledge-${randomBytes(3).toString('hex')}`;
  const tenant = await palazzo.services.tenants.create({
    slug,
    name: slug,
    tier: 'custom',
    owner: { email: `owner@${slug}.test`, name: 'Owner', password: 'a long benchmark passphrase' },
  });
  const tenantId = tenant.id;
  const baseId = uuidv7();
  await db.withTenant(tenantId, async (tx) => {
    await repo.insertBase(tx, {
      tenantId,
      id: baseId,
      name: 'bench',
      description: '',
      language: 'english',
      chunkSize: null,
      chunkOverlap: null,
    });
  });
  // The baseline's table: plain, no index but its key, written by the same restricted role.
  await db.withOwner(async (tx) => {
    await tx.query('CREATE TABLE bench_raw_text (id uuid PRIMARY KEY, body text NOT NULL)');
    await tx.query('GRANT ALL ON bench_raw_text TO palazzo_app');
  });
  const parser = createParser({ timeoutMs: 120_000, memoryMb: 1024 });
  const ingestion = createIngestion({
    db,
    jobs: palazzo.services.jobs,
    parser,
    embedder: noEmbeddings,
    log: palazzo.app.log,
    chunkDefaults: async () => ({ size: 1000, overlap: 150 }),
  });

  // The corpus: half Markdown, half HTML, each about BENCH_DOC_KB kilobytes.
  const corpus = Array.from({ length: DOCS }, (_, i) =>
    i % 2 === 0
      ? { type: 'text/markdown' as MediaType, bytes: Buffer.from(markdown(i, DOC_KB * 1024)) }
      : { type: 'text/html' as MediaType, bytes: Buffer.from(html(i, DOC_KB * 1024)) },
  );
  const megabytes = corpus.reduce((sum, d) => sum + d.bytes.length, 0) / 1024 / 1024;
  log(`corpus: ${DOCS} documents (Markdown and HTML), ${megabytes.toFixed(2)} MB per leg and round; ${ROUNDS} rounds; PGlite`);

  async function storeCorpus(): Promise<string[]> {
    return db.withTenant(tenantId, async (tx) => {
      const ids: string[] = [];
      for (const [i, doc] of corpus.entries()) {
        const row = await repo.insertDocument(tx, {
          tenantId,
          id: uuidv7(),
          knowledgeBaseId: baseId,
          title: `doc ${i}`,
          filename: `doc-${i}`,
          mediaType: doc.type,
          content: doc.bytes,
          sha256: 'bench',
          createdBy: { type: 'user', id: uuidv7() },
        });
        ids.push(row.id);
      }
      return ids;
    });
  }

  async function legA(): Promise<{ seconds: number; chunks: number }> {
    const ids = await storeCorpus();
    const started = process.hrtime.bigint();
    let chunks = 0;
    for (const id of ids) {
      const job: Job = {
        id: uuidv7(),
        kind: 'knowledge.ingest',
        tenant_id: tenantId,
        payload: { tenantId, documentId: id },
        attempts: 1,
        max_attempts: 3,
      };
      const result = await ingestion.ingest(job);
      if (result.status !== 'ready') throw new Error(`document ${id} ended ${JSON.stringify(result)}`);
      chunks += Number(result.chunks);
    }
    return { seconds: Number(process.hrtime.bigint() - started) / 1e9, chunks };
  }

  async function legB(): Promise<{ seconds: number; chunks: number }> {
    const ids = await storeCorpus();
    const started = process.hrtime.bigint();
    for (const id of ids) {
      const row = await db.withTenant(tenantId, async (tx) => {
        const { rows } = await tx.query<{ content: Uint8Array; media_type: string }>(
          'SELECT content, media_type FROM knowledge_documents WHERE id = $1',
          [id],
        );
        return rows[0];
      });
      if (!row) throw new Error('missing document');
      const parsed = await parseDocument(row.content, row.media_type as MediaType, DEFAULT_PARSE_LIMITS);
      await db.withTenant(tenantId, (tx) => tx.query('INSERT INTO bench_raw_text (id, body) VALUES ($1, $2)', [id, parsed.text]));
    }
    return { seconds: Number(process.hrtime.bigint() - started) / 1e9, chunks: 0 };
  }

  // Warm-up: the worker thread starts and loads its parsers; jsdom and the database warm up.
  await legA();
  await legB();

  const ratios: number[] = [];
  const aRates: number[] = [];
  const bRates: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? (['A', 'B'] as const) : (['B', 'A'] as const);
    const results: Record<'A' | 'B', { seconds: number; chunks: number }> = { A: { seconds: 0, chunks: 0 }, B: { seconds: 0, chunks: 0 } };
    for (const leg of order) results[leg] = leg === 'A' ? await legA() : await legB();
    const a = megabytes / results.A.seconds;
    const b = megabytes / results.B.seconds;
    aRates.push(a);
    bRates.push(b);
    ratios.push(a / b);
    log(
      `round ${round} (${order.join(' ')}): A ${a.toFixed(2)} MB/s (${results.A.chunks} chunks), B ${b.toFixed(2)} MB/s, A/B ${(a / b).toFixed(2)}`,
    );
  }
  const show = (s: { median: number; min: number; max: number }, digits = 2) =>
    `${s.median.toFixed(digits)} [${s.min.toFixed(digits)}–${s.max.toFixed(digits)}]`;
  process.stdout.write(
    [
      '',
      '── knowledge ingestion throughput ──',
      `A full pipeline (worker parse, states, chunking, chunks + tsvector in one transaction): ${show(spread(aRates))} MB/s`,
      `B raw parse-and-insert (same parser in-thread, one unindexed row):               ${show(spread(bRates))} MB/s`,
      `ratio A/B (median [min–max] over ${ROUNDS} interleaved rounds): ${show(spread(ratios))}`,
      '',
    ].join('\n'),
  );
  await parser.close();
  await palazzo.app.close();
  await db.close();
  cleanup();
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
