/**
 * Shared pieces of the identity suite: a scan of every text-like column of every table (owner
 * connection, so row-level security hides nothing) and contexts that share one master key, so two
 * of them can run on the same database as two nodes of one installation.
 */
import { inject } from 'vitest';
import type { Config } from '../../src/platform/config.ts';
import type { Database } from '../../src/platform/db/database.ts';
import { createTestContext, type TestContext } from '../helpers/harness.ts';

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`unexpected identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}

export type ScanHit = { table: string; column: string; needle: string };

/** Column types whose values can hold a string: text, varchar, char, json, jsonb and arrays of them. */
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'json', 'jsonb', 'name', 'bytea']);

/**
 * Reads every text, varchar, char, json(b) and array-of-text column of every table in schema
 * `public` and reports each (table, column, needle) where a value contains a needle. Also returns
 * how many values were read, so a caller can check the scan saw data at all.
 */
export async function scanDatabase(db: Database, needles: string[]): Promise<{ hits: ScanHit[]; values: number; columns: number }> {
  return db.withOwner(async (tx) => {
    const { rows: columns } = await tx.query<{ table_name: string; column_name: string; udt: string }>(
      `SELECT c.relname AS table_name, a.attname AS column_name, t.typname AS udt
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY c.relname, a.attnum`,
    );
    const byTable = new Map<string, string[]>();
    for (const column of columns) {
      const base = column.udt.startsWith('_') ? column.udt.slice(1) : column.udt;
      if (!TEXT_TYPES.has(base)) continue;
      const list = byTable.get(column.table_name) ?? [];
      list.push(column.column_name);
      byTable.set(column.table_name, list);
    }
    const hits: ScanHit[] = [];
    let values = 0;
    let scanned = 0;
    for (const [table, names] of byTable) {
      scanned += names.length;
      const select = names.map((name, i) => `${ident(name)}::text AS c${i}`).join(', ');
      const { rows } = await tx.query<Record<string, string | null>>(`SELECT ${select} FROM ${ident(table)}`);
      for (const row of rows) {
        names.forEach((name, i) => {
          const value = row[`c${i}`];
          if (value == null) return;
          values += 1;
          for (const needle of needles) {
            if (value.includes(needle)) hits.push({ table, column: name, needle });
          }
        });
      }
    }
    return { hits, values, columns: scanned };
  });
}

/**
 * The run's master key (the harness gives every context of a run the same one, so contexts on one
 * database decrypt each other's signing key). Tests that forge tokens use it to load the key.
 */
export function testMasterKey(): Buffer {
  return Buffer.from(inject('testMasterKey'), 'base64');
}

export function identityContext(overrides: Partial<Config> = {}) {
  return createTestContext({ config: overrides });
}

/** Contexts that can share a database as two nodes of one installation. */
export function sharedKeyContexts(overrides: Partial<Config> = {}) {
  return {
    masterKey: () => testMasterKey(),
    first: () => createTestContext({ config: overrides }),
    another: (db: Database, more: Partial<Config> = {}) => createTestContext({ db, config: { ...overrides, ...more } }),
  };
}

export type { TestContext };

export function bearer(token: string) {
  return { authorization: `Bearer ${token}` };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
