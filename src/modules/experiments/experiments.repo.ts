import type { Tx } from '../../platform/db/database.ts';
import type { Variant } from './assignment.ts';

export type ExperimentStatus = 'draft' | 'running' | 'stopped';

export type ExperimentRow = {
  id: string;
  key: string;
  description: string;
  status: ExperimentStatus;
  variants: Variant[];
  control_variant: string;
  started_at: Date | null;
  stopped_at: Date | null;
  created_at: Date;
  updated_at: Date;
};

const COLUMNS = 'id, key, description, status, variants, control_variant, started_at, stopped_at, created_at, updated_at';

export async function insertExperiment(
  tx: Tx,
  experiment: { tenantId: string; id: string; key: string; description: string; variants: Variant[]; control: string },
): Promise<ExperimentRow> {
  const { rows } = await tx.query<ExperimentRow>(
    `INSERT INTO experiments (tenant_id, id, key, description, variants, control_variant)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
    [experiment.tenantId, experiment.id, experiment.key, experiment.description, JSON.stringify(experiment.variants), experiment.control],
  );
  return rows[0] as ExperimentRow;
}

export async function findExperiment(tx: Tx, id: string, lock = false): Promise<ExperimentRow | undefined> {
  const { rows } = await tx.query<ExperimentRow>(`SELECT ${COLUMNS} FROM experiments WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0];
}

export async function listExperiments(tx: Tx, filter: { status?: ExperimentStatus; after: string | null; limit: number }) {
  const { rows } = await tx.query<ExperimentRow>(
    `SELECT ${COLUMNS} FROM experiments WHERE ($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR id > $2)
     ORDER BY id LIMIT $3`,
    [filter.status ?? null, filter.after, filter.limit + 1],
  );
  return rows;
}

export type ExperimentPatch = {
  description?: string;
  variants?: Variant[];
  control?: string;
  status?: ExperimentStatus;
};

export async function updateExperiment(tx: Tx, id: string, patch: ExperimentPatch): Promise<ExperimentRow | undefined> {
  const { rows } = await tx.query<ExperimentRow>(
    `UPDATE experiments SET
       description = COALESCE($2, description),
       variants = COALESCE($3::jsonb, variants),
       control_variant = COALESCE($4, control_variant),
       status = COALESCE($5, status),
       started_at = CASE WHEN $5 = 'running' THEN now() ELSE started_at END,
       stopped_at = CASE WHEN $5 = 'stopped' THEN now() ELSE stopped_at END,
       updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, patch.description ?? null, patch.variants ? JSON.stringify(patch.variants) : null, patch.control ?? null, patch.status ?? null],
  );
  return rows[0];
}

export async function deleteExperiment(tx: Tx, id: string): Promise<boolean> {
  const result = await tx.query('DELETE FROM experiments WHERE id = $1', [id]);
  return result.rowCount > 0;
}

export type EventType = 'exposure' | 'conversion';

/** Inserts the event unless the subject already has one of this type; true when it was new. */
export async function insertEvent(
  tx: Tx,
  event: { tenantId: string; experimentId: string; subjectId: string; type: EventType; variant: string },
): Promise<boolean> {
  const result = await tx.query(
    `INSERT INTO experiment_events (tenant_id, experiment_id, subject_id, type, variant) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id, experiment_id, subject_id, type) DO NOTHING`,
    [event.tenantId, event.experimentId, event.subjectId, event.type, event.variant],
  );
  return result.rowCount > 0;
}

export type VariantCounts = { variant: string; exposures: number; conversions: number };

export async function countEvents(tx: Tx, experimentId: string): Promise<VariantCounts[]> {
  const { rows } = await tx.query<VariantCounts>(
    `SELECT variant, count(*) FILTER (WHERE type = 'exposure')::int AS exposures,
            count(*) FILTER (WHERE type = 'conversion')::int AS conversions
     FROM experiment_events WHERE experiment_id = $1 GROUP BY variant`,
    [experimentId],
  );
  return rows;
}
