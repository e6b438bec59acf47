import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONNECTIONS } from './load.ts';
import { type Comparison, type Ratios, SETTINGS } from './compare.ts';
import type { Spread } from './stats.ts';

export const RESULTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../results');

export type Target = { metric: keyof Ratios; op: '>=' | '<=' | 'within'; value: number; max?: number; note?: string };

export type Outcome = {
  comparison: Comparison;
  target?: Target;
  /** met / missed / report (no target) / noisy (noise guard outside its band). */
  verdict: 'met' | 'missed' | 'report' | 'noisy' | 'ok';
  notes: string[];
  /** Further measurements of this benchmark (written to its JSON). */
  extra?: Record<string, unknown>;
};

export function judge(comparison: Comparison, target: Target | undefined, notes: string[] = []): Outcome {
  if (!target) return { comparison, verdict: 'report', notes };
  const value = comparison.ratios[target.metric].median;
  if (target.op === 'within') {
    const inside = value >= target.value && value <= (target.max ?? Number.POSITIVE_INFINITY);
    return { comparison, target, verdict: inside ? 'ok' : 'noisy', notes };
  }
  const met = target.op === '>=' ? value >= target.value : value <= target.value;
  return { comparison, target, verdict: met ? 'met' : 'missed', notes };
}

const f = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const ratio = (s: Spread) => `${f(s.median, 2)} [${f(s.min, 2)}–${f(s.max, 2)}]`;

function targetText(target: Target | undefined): string {
  if (!target) return 'report only';
  if (target.op === 'within') return `${target.metric} in ${target.value}–${target.max}`;
  return `${target.metric} ${target.op} ${target.value}`;
}

/** A plain-text table for one comparison. */
export function formatOutcome(outcome: Outcome): string {
  const { comparison: c } = outcome;
  const rows: string[][] = [
    ['metric', `A: ${c.a.label}`, `B: ${c.b.label}`, 'ratio median [min–max]'],
    ['req/s', f(c.a.rps.median, 0), f(c.b.rps.median, 0), `${ratio(c.ratios.rps)}  (A/B)`],
    ['server CPU µs/req', f(c.a.cpuUsPerReq.median, 1), f(c.b.cpuUsPerReq.median, 1), `${ratio(c.ratios.cpu)}  (B/A)`],
    ...(Number.isNaN(c.ratios.dbCpu.median)
      ? []
      : [
          ['PG backends CPU µs/req', f(c.a.dbUsPerReq.median, 1), f(c.b.dbUsPerReq.median, 1), `${ratio(c.ratios.dbCpu)}  (B/A)`],
          ['server+PG CPU µs/req', f(c.a.totalUsPerReq.median, 1), f(c.b.totalUsPerReq.median, 1), `${ratio(c.ratios.totalCpu)}  (B/A)`],
        ]),
    ['p50 ms', f(c.a.p50.median, 2), f(c.b.p50.median, 2), `${ratio(c.ratios.p50)}  (A/B)`],
    ['p95 ms', f(c.a.p95.median, 2), f(c.b.p95.median, 2), `${ratio(c.ratios.p95)}  (A/B)`],
    ['p99 ms', f(c.a.p99.median, 2), f(c.b.p99.median, 2), `${ratio(c.ratios.p99)}  (A/B)`],
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const line = (r: string[]) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  │ ');
  const out = [
    `── ${c.name} ── target: ${targetText(outcome.target)} → ${outcome.verdict.toUpperCase()}`,
    line(rows[0] as string[]),
    widths.map((w) => '─'.repeat(w)).join('──┼─'),
    ...rows.slice(1).map(line),
  ];
  for (const warning of c.warnings) out.push(`  warning: ${warning}`);
  for (const note of outcome.notes) out.push(`  note: ${note}`);
  return out.join('\n');
}

function gitInfo(): { commit: string | null; dirty: boolean | null } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return { commit: null, dirty: null };
  }
}

export function runMetadata(startedAt: Date) {
  return {
    startedAt: startedAt.toISOString(),
    node: process.version,
    ...gitInfo(),
    host: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      loadavg: os.loadavg(),
      platform: `${os.platform()} ${os.release()}`,
    },
    settings: { ...SETTINGS, connections: CONNECTIONS, pipelining: 1, serverCpu: 0, loadCpu: 1 },
    /** Environment that changes what is measured: another database layer, app settings passed to the servers. */
    overrides: Object.fromEntries(
      Object.entries(process.env).filter(
        ([key]) => key === 'BENCH_DB_MODULE' || key.startsWith('BENCH_B10_') || key.startsWith('PALAZZO_'),
      ),
    ),
  };
}

/** Writes bench/results/<name>-<timestamp>.json and returns its path. */
export function writeResult(name: string, startedAt: Date, body: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const file = path.join(RESULTS_DIR, `${name}-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  return file;
}
