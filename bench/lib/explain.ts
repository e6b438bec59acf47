import pg from 'pg';
import { appUrlFrom } from '../../src/platform/db/postgres.ts';
import type { SeededKey } from './datasets.ts';
import { RLS_READ } from './sql.ts';
import { median, type Spread, spread } from './stats.ts';

type PlanNode = { 'Node Type': string; 'Index Name'?: string; Plans?: PlanNode[] };
type Explained = { planningMs: number; executionMs: number; shape: string };

function shapeOf(node: PlanNode): string {
  const own = node['Index Name'] ? `${node['Node Type']} using ${node['Index Name']}` : node['Node Type'];
  const children = (node.Plans ?? []).map(shapeOf);
  return children.length ? `${own} (${children.join(', ')})` : own;
}

/** EXPLAIN ANALYZE of the B2 read as palazzo_app, inside a tenant transaction like the app's. */
async function explainOnce(client: pg.Client, key: SeededKey): Promise<Explained> {
  await client.query('BEGIN');
  try {
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [key.tenantId]);
    const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode; 'Planning Time': number; 'Execution Time': number }> }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${RLS_READ}`,
      [key.apiKeyId],
    );
    const plan = rows[0]?.['QUERY PLAN'][0];
    if (!plan) throw new Error('EXPLAIN returned no plan');
    return { planningMs: plan['Planning Time'], executionMs: plan['Execution Time'], shape: shapeOf(plan.Plan) };
  } finally {
    await client.query('COMMIT');
  }
}

export type ExplainComparison = {
  samplesPerRound: number;
  /** Per-round ratios of the medians, A/B. */
  planningRatio: Spread;
  executionRatio: Spread;
  a: { planningMs: Spread; executionMs: Spread; shapes: string[] };
  b: { planningMs: Spread; executionMs: Spread; shapes: string[] };
};

/**
 * Planning and execution time of the B2 read, from EXPLAIN ANALYZE on both datasets, interleaved in
 * rounds (A then B), each sample on a random tenant's own key.
 */
export async function compareExplain(
  a: { url: string; keys: SeededKey[] },
  b: { url: string; keys: SeededKey[] },
  rounds: number,
  samples = Number(process.env.BENCH_EXPLAIN_SAMPLES ?? 200),
): Promise<ExplainComparison> {
  const clients = [new pg.Client({ connectionString: appUrlFrom(a.url) }), new pg.Client({ connectionString: appUrlFrom(b.url) })] as const;
  await Promise.all(clients.map((c) => c.connect()));
  try {
    const perRound: Array<{ a: Explained[]; b: Explained[] }> = [];
    for (let round = 0; round < rounds; round += 1) {
      const entry = { a: [] as Explained[], b: [] as Explained[] };
      for (const [side, client, keys] of [
        ['a', clients[0], a.keys],
        ['b', clients[1], b.keys],
      ] as const) {
        for (let i = 0; i < samples; i += 1) {
          entry[side].push(await explainOnce(client, keys[Math.floor(Math.random() * keys.length)] as SeededKey));
        }
      }
      perRound.push(entry);
    }
    const med = (list: Explained[], key: 'planningMs' | 'executionMs') => median(list.map((e) => e[key]));
    const side = (which: 'a' | 'b') => ({
      planningMs: spread(perRound.map((r) => med(r[which], 'planningMs'))),
      executionMs: spread(perRound.map((r) => med(r[which], 'executionMs'))),
      shapes: [...new Set(perRound.flatMap((r) => r[which].map((e) => e.shape)))],
    });
    return {
      samplesPerRound: samples,
      planningRatio: spread(perRound.map((r) => med(r.a, 'planningMs') / med(r.b, 'planningMs'))),
      executionRatio: spread(perRound.map((r) => med(r.a, 'executionMs') / med(r.b, 'executionMs'))),
      a: side('a'),
      b: side('b'),
    };
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}
