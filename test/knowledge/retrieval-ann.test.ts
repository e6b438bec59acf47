/**
 * Filtered ANN correctness (B6, issue 6): the vector leg of a tenant search always returns k rows
 * when k exist, and its top 10 agrees with an exact search (recall@10 ≥ 0.95), for a small tenant
 * (exact search after the (tenant_id, dimensions) btree) and a large one (HNSW with an iterative
 * scan, re-ordered exactly). Needs pgvector: skipped where the vectors table does not exist.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_DEFAULTS, type EffectiveConfig } from '../../src/modules/config/index.ts';
import type { Database } from '../../src/platform/db/database.ts';
import { createRetriever } from '../../src/modules/knowledge/index.ts';
import { exactVectorTopK } from '../../src/modules/knowledge/retriever.repo.ts';
import { openTestDatabase } from '../helpers/harness.ts';
import { clusteredVectors, DIMENSIONS, FAKE_MODEL, hasVectorTable, seedSyntheticChunks, vectorText } from './retrieval-support.ts';

let db: Database;
let vectors = false;
const tenants = { small: randomUUID(), large: randomUUID(), rest: randomUUID() };
const SIZES = { small: 40, large: 1500, rest: 1500 };
const EXACT_MAX = 500;
const queries = new Map<string, number[]>();

const config = {
  async get() {
    // Vector leg only (keyword weight 0), so the order returned is the vector order.
    return {
      ...BUILTIN_DEFAULTS,
      retrieval: {
        ...BUILTIN_DEFAULTS.retrieval,
        weights: { vector: 1, keyword: 0 },
        minScore: 0,
        topK: 10,
        candidatesPerLeg: 40,
        reranker: 'none',
      },
    } as EffectiveConfig;
  },
};
const embedder = {
  async embed(_tenantId: string, texts: string[]) {
    return { vectors: texts.map((t) => queries.get(t) as number[]), model: FAKE_MODEL, dimensions: DIMENSIONS, tokens: 0 };
  },
};

beforeAll(async () => {
  db = await openTestDatabase();
  vectors = await hasVectorTable(db);
  if (!vectors) return;
  await db.withOwner(async (tx) => {
    await tx.query(`INSERT INTO tiers (name, limits) VALUES ('ann-test', '{}') ON CONFLICT DO NOTHING`);
    for (const [label, id] of Object.entries(tenants)) {
      await tx.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, $2, 'ann-test', 'active')`, [
        id,
        `ann-${label}-${id.slice(0, 8)}`,
      ]);
    }
  });
  // Same clusters for every tenant: a tenant filter on the HNSW graph then discards most neighbours.
  let seed = 1;
  for (const [label, id] of Object.entries(tenants)) {
    await seedSyntheticChunks(db, id, clusteredVectors(SIZES[label as keyof typeof SIZES], seed++), true);
  }
  for (const [i, v] of clusteredVectors(20, 999).entries()) queries.set(`q${i}`, v);
});

afterAll(async () => {
  await db?.close();
});

describe('filtered ANN (B6)', () => {
  for (const size of ['small', 'large'] as const) {
    it(`${size} tenant: always k results, recall@10 ≥ 0.95 against exact search`, async () => {
      if (!vectors) return;
      const tenantId = tenants[size];
      const retriever = createRetriever({ db, config, embedder, exactSearchMaxVectors: EXACT_MAX });
      let overlap = 0;
      for (const [text, vector] of queries) {
        const result = await retriever.search(tenantId, { query: text });
        expect(result.mode).toBe('hybrid');
        expect(result.vectorSearch).toBe(size === 'small' ? 'exact' : 'hnsw');
        expect(result.passages).toHaveLength(10);
        const exact = await db.withTenant(tenantId, (tx) => exactVectorTopK(tx, tenantId, vectorText(vector), DIMENSIONS, 10));
        const got = new Set(result.passages.map((p) => p.chunkId));
        overlap += exact.filter((id) => got.has(id)).length;
      }
      const recall = overlap / (queries.size * 10);
      console.log(
        `[retrieval-ann] ${size} tenant (${SIZES[size]} of ${SIZES.small + SIZES.large + SIZES.rest} vectors): recall@10 = ${recall.toFixed(3)}`,
      );
      expect(recall).toBeGreaterThanOrEqual(0.95);
    });
  }

  it('a tenant with fewer than k vectors gets all of them, and never another tenant’s', async () => {
    if (!vectors) return;
    const retriever = createRetriever({ db, config, embedder, exactSearchMaxVectors: EXACT_MAX });
    const result = await retriever.search(tenants.small, { query: 'q0', topK: 100 });
    expect(result.passages).toHaveLength(SIZES.small);
  });
});
