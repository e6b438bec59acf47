import { readFileSync } from 'node:fs';
import pg from 'pg';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every mainstream Linux build). */
const TICKS_PER_SECOND = Number(process.env.BENCH_CLK_TCK ?? 100);

export type DbCpuProbe = {
  /** Cumulative CPU (user + system) of the backends serving one database, per backend pid, in µs. */
  sample(): Promise<Map<number, number>>;
  close(): Promise<void>;
};

function backendCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return (ticks / TICKS_PER_SECOND) * 1e6;
  } catch {
    return undefined;
  }
}

/**
 * Reads the CPU time of the PostgreSQL backends connected to `database` (optionally as `user`, with
 * `application_name`) from
 * /proc: only meaningful when the server runs on this machine, which is how the harness runs.
 */
export async function createDbCpuProbe(
  adminUrl: string,
  database: string,
  user?: string,
  applicationName?: string,
): Promise<DbCpuProbe | undefined> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  const probe = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  if (backendCpuMicros(probe.rows[0]?.pid ?? -1) === undefined) {
    await client.end();
    return undefined; // PostgreSQL is not local (or /proc is not readable): no DB CPU figures.
  }
  return {
    async sample() {
      const { rows } = await client.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND ($2::text IS NULL OR usename = $2)
           AND ($3::text IS NULL OR application_name = $3) AND pid <> pg_backend_pid()`,
        [database, user ?? null, applicationName ?? null],
      );
      const out = new Map<number, number>();
      for (const { pid } of rows) {
        const micros = backendCpuMicros(pid);
        if (micros !== undefined) out.set(pid, micros);
      }
      return out;
    },
    close: () => client.end(),
  };
}

/** CPU spent between two samples; a backend that appeared in between counts from its start. */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, micros] of after) total += micros - (before.get(pid) ?? 0);
  return total;
}
