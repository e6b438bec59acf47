import type { Tx } from '../../platform/db/database.ts';

export type OperatorRow = { id: string; email: string; name: string; password_hash: string; created_at: Date };

export async function findOperatorByEmail(tx: Tx, email: string): Promise<OperatorRow | undefined> {
  const { rows } = await tx.query<OperatorRow>('SELECT id, email, name, password_hash, created_at FROM operators WHERE email = $1', [
    email,
  ]);
  return rows[0];
}

export async function findOperatorById(tx: Tx, id: string): Promise<OperatorRow | undefined> {
  const { rows } = await tx.query<OperatorRow>('SELECT id, email, name, password_hash, created_at FROM operators WHERE id = $1', [id]);
  return rows[0];
}

export async function countOperators(tx: Tx): Promise<number> {
  const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM operators');
  return rows[0]?.n ?? 0;
}

export async function insertOperator(tx: Tx, op: { id: string; email: string; name: string; passwordHash: string }) {
  await tx.query('INSERT INTO operators (id, email, name, password_hash) VALUES ($1, $2, $3, $4)', [
    op.id,
    op.email,
    op.name,
    op.passwordHash,
  ]);
}

export async function recordOperatorLogin(tx: Tx, id: string, rehashed: string | null) {
  await tx.query('UPDATE operators SET last_login_at = now(), password_hash = COALESCE($2, password_hash) WHERE id = $1', [id, rehashed]);
}
