import type { Database } from '../../platform/db/database.ts';
import { AppError, assertId, assertThat, conflict, notFound } from '../../platform/errors.ts';
import type { Formatter, MessageLocale } from '../../platform/i18n.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { TenantPrincipal } from '../access/index.ts';
import { assignVariant, type Variant } from './assignment.ts';
import * as repo from './experiments.repo.ts';
import { type Interval, twoProportionZTest, wilsonInterval, Z_95 } from './statistics.ts';

export const SIGNIFICANCE = 0.05;

const invalid = (path: string, message: string) => new AppError('validation_failed', `${path} ${message}`, { errors: [{ path, message }] });

/** Variants: unique keys, whole-percent weights summing to 100, the control among them. */
function checkVariants(variants: Variant[], control: string) {
  const keys = new Set<string>();
  for (const [index, variant] of variants.entries()) {
    assertThat(!keys.has(variant.key), invalid(`body/variants/${index}/key`, `repeats the key "${variant.key}"`));
    keys.add(variant.key);
  }
  const total = variants.reduce((sum, v) => sum + v.weight, 0);
  assertThat(total === 100, invalid('body/variants', `weights must sum to 100, they sum to ${total}`));
  assertThat(keys.has(control), invalid('body/control', `names no variant ("${control}")`));
}

/** The states an experiment moves through; once stopped its results are final. */
const TRANSITIONS: Record<repo.ExperimentStatus, repo.ExperimentStatus[]> = {
  draft: ['running'],
  running: ['stopped'],
  stopped: [],
};

export type VariantResult = {
  key: string;
  weight: number;
  isControl: boolean;
  exposures: number;
  conversions: number;
  conversionRate: number | null;
  confidenceInterval: Interval | null;
  comparison: {
    against: string;
    difference: number | null;
    relativeLift: number | null;
    z: number | null;
    pValue: number | null;
    significant: boolean;
  } | null;
};

const TEXT = {
  en: {
    noData: 'No exposures yet.',
    since: (when: string) => `Running since ${when}.`,
    stopped: (when: string) => `Stopped on ${when}.`,
    draft: 'Not started.',
    line: (v: string, rate: string, low: string, high: string) => `${v}: ${rate} conversion (95% CI ${low}–${high})`,
    vs: (p: string, significant: boolean) => `p = ${p}, ${significant ? 'significant' : 'not significant'} at 95%`,
  },
  it: {
    noData: 'Ancora nessuna esposizione.',
    since: (when: string) => `In corso dal ${when}.`,
    stopped: (when: string) => `Fermato il ${when}.`,
    draft: 'Non avviato.',
    line: (v: string, rate: string, low: string, high: string) => `${v}: conversione ${rate} (IC 95% ${low}–${high})`,
    vs: (p: string, significant: boolean) => `p = ${p}, ${significant ? 'significativo' : 'non significativo'} al 95%`,
  },
} as const;

/** A sentence per variant for people, in the caller's language, numbers and time zone. */
function summarize(row: repo.ExperimentRow, variants: VariantResult[], messages: MessageLocale, format: Formatter): string {
  const text = TEXT[messages];
  const state =
    row.status === 'running' && row.started_at
      ? text.since(format.dateTime(row.started_at))
      : row.status === 'stopped' && row.stopped_at
        ? text.stopped(format.dateTime(row.stopped_at))
        : text.draft;
  if (variants.every((v) => v.exposures === 0)) return `${state} ${text.noData}`;
  const lines = variants.map((v) => {
    if (v.conversionRate === null || !v.confidenceInterval) return `${v.key}: —`;
    const base = text.line(
      v.key,
      format.percent(v.conversionRate, 1),
      format.percent(v.confidenceInterval.low, 1),
      format.percent(v.confidenceInterval.high, 1),
    );
    return v.comparison?.pValue != null ? `${base}; ${text.vs(format.number(v.comparison.pValue, 4), v.comparison.significant)}` : base;
  });
  return `${state} ${lines.join('. ')}.`;
}

export function createExperimentService(deps: { db: Database }) {
  const { db } = deps;

  async function load(tenantId: string, id: string) {
    assertId(id, 'experiment');
    const row = await db.withTenant(tenantId, (tx) => repo.findExperiment(tx, id));
    assertThat(row, notFound('experiment'));
    return row;
  }

  /** The subject is the calling user unless named; an API key must name one. */
  function subjectOf(principal: TenantPrincipal, subjectId: string | undefined): string {
    if (subjectId !== undefined) return subjectId;
    assertThat(principal.kind === 'user', invalid('body/subjectId', 'is required when the caller is not a user'));
    return principal.userId;
  }

  function assertRunning(row: repo.ExperimentRow) {
    assertThat(
      row.status === 'running',
      conflict(`the experiment is ${row.status}; assignments and events need it running`, { experimentStatus: row.status }),
    );
  }

  return {
    async create(tenantId: string, input: { key: string; description?: string; variants: Variant[]; control?: string }) {
      const control = input.control ?? (input.variants[0] as Variant).key;
      checkVariants(input.variants, control);
      return db.withTenant(tenantId, async (tx) => {
        const { rows } = await tx.query('SELECT 1 FROM experiments WHERE key = $1', [input.key]);
        assertThat(rows.length === 0, conflict(`an experiment with the key "${input.key}" exists`));
        return repo.insertExperiment(tx, {
          tenantId,
          id: uuidv7(),
          key: input.key,
          description: input.description ?? '',
          variants: input.variants,
          control,
        });
      });
    },

    list(tenantId: string, filter: { status?: repo.ExperimentStatus; after: string | null; limit: number }) {
      return db.withTenant(tenantId, (tx) => repo.listExperiments(tx, filter));
    },

    get: load,

    async update(tenantId: string, id: string, patch: repo.ExperimentPatch) {
      assertId(id, 'experiment');
      return db.withTenant(tenantId, async (tx) => {
        const row = await repo.findExperiment(tx, id, true);
        assertThat(row, notFound('experiment'));
        if (patch.variants || patch.control) {
          // Assignment is a pure function of the variants: changing them while running would move subjects.
          assertThat(row.status === 'draft', conflict('variants and control can change only while the experiment is a draft'));
          checkVariants(patch.variants ?? row.variants, patch.control ?? row.control_variant);
        }
        if (patch.status && patch.status !== row.status) {
          assertThat(
            TRANSITIONS[row.status].includes(patch.status),
            conflict(`an experiment cannot go from ${row.status} to ${patch.status}`, { from: row.status, to: patch.status }),
          );
        }
        const status = patch.status === row.status ? undefined : patch.status;
        return (await repo.updateExperiment(tx, id, { ...patch, status })) as repo.ExperimentRow;
      });
    },

    async remove(tenantId: string, id: string) {
      assertId(id, 'experiment');
      const deleted = await db.withTenant(tenantId, (tx) => repo.deleteExperiment(tx, id));
      assertThat(deleted, notFound('experiment'));
    },

    async assign(principal: TenantPrincipal, id: string, subjectId: string | undefined) {
      const row = await load(principal.tenantId, id);
      assertRunning(row);
      const subject = subjectOf(principal, subjectId);
      return { experimentId: row.id, key: row.key, subjectId: subject, variant: assignVariant(row.id, subject, row.variants) };
    },

    /**
     * Records an exposure or a conversion, once per subject and type (a repeat records nothing and
     * says so). A conversion implies an exposure, which is recorded with it if missing, so a rate
     * never exceeds 1. The variant is the subject's assignment; a different one is refused.
     */
    async recordEvent(principal: TenantPrincipal, id: string, input: { type: repo.EventType; subjectId?: string; variant?: string }) {
      assertId(id, 'experiment');
      const subject = subjectOf(principal, input.subjectId);
      return db.withTenant(principal.tenantId, async (tx) => {
        const row = await repo.findExperiment(tx, id);
        assertThat(row, notFound('experiment'));
        assertRunning(row);
        const variant = assignVariant(row.id, subject, row.variants);
        if (input.variant !== undefined) {
          assertThat(
            row.variants.some((v) => v.key === input.variant),
            invalid('body/variant', `names no variant of this experiment ("${input.variant}")`),
          );
          assertThat(
            input.variant === variant,
            conflict(`the subject is assigned to "${variant}", not "${input.variant}"`, { assignedVariant: variant }),
          );
        }
        const event = { tenantId: principal.tenantId, experimentId: row.id, subjectId: subject };
        if (input.type === 'conversion') await repo.insertEvent(tx, { ...event, type: 'exposure', variant });
        const recorded = await repo.insertEvent(tx, { ...event, type: input.type, variant });
        return { experimentId: row.id, subjectId: subject, type: input.type, variant, recorded };
      });
    },

    async results(tenantId: string, id: string, locale: { messages: MessageLocale; format: Formatter }) {
      assertId(id, 'experiment');
      const { row, counts } = await db.withTenant(tenantId, async (tx) => {
        const found = await repo.findExperiment(tx, id);
        assertThat(found, notFound('experiment'));
        return { row: found, counts: await repo.countEvents(tx, id) };
      });
      const byVariant = new Map(counts.map((c) => [c.variant, c]));
      const control = byVariant.get(row.control_variant) ?? { exposures: 0, conversions: 0 };
      const variants: VariantResult[] = row.variants.map((v) => {
        const { exposures, conversions } = byVariant.get(v.key) ?? { exposures: 0, conversions: 0 };
        const rate = exposures > 0 ? conversions / exposures : null;
        const isControl = v.key === row.control_variant;
        let comparison: VariantResult['comparison'] = null;
        if (!isControl) {
          const controlRate = control.exposures > 0 ? control.conversions / control.exposures : null;
          const test = twoProportionZTest(control.conversions, control.exposures, conversions, exposures);
          comparison = {
            against: row.control_variant,
            difference: rate !== null && controlRate !== null ? rate - controlRate : null,
            relativeLift: rate !== null && controlRate ? (rate - controlRate) / controlRate : null,
            z: test?.z ?? null,
            pValue: test?.pValue ?? null,
            significant: test !== null && test.pValue < SIGNIFICANCE,
          };
        }
        return {
          key: v.key,
          weight: v.weight,
          isControl,
          exposures,
          conversions,
          conversionRate: rate,
          confidenceInterval: wilsonInterval(conversions, exposures, Z_95),
          comparison,
        };
      });
      return { row, variants, summary: summarize(row, variants, locale.messages, locale.format) };
    },
  };
}

export type ExperimentService = ReturnType<typeof createExperimentService>;
