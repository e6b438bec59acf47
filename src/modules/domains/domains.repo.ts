import type { Tx } from '../../platform/db/database.ts';

export type DomainRow = {
  id: string;
  hostname: string;
  token: string;
  status: 'pending' | 'verified';
  verified_at: Date | null;
  last_checked_at: Date | null;
  last_check_reason: string | null;
  created_at: Date;
  updated_at: Date;
};

const COLUMNS = 'id, hostname, token, status, verified_at, last_checked_at, last_check_reason, created_at, updated_at';

export async function insertDomain(tx: Tx, domain: { tenantId: string; id: string; hostname: string; token: string }): Promise<DomainRow> {
  const { rows } = await tx.query<DomainRow>(
    `INSERT INTO custom_domains (tenant_id, id, hostname, token) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
    [domain.tenantId, domain.id, domain.hostname, domain.token],
  );
  return rows[0] as DomainRow;
}

export async function findDomain(tx: Tx, id: string): Promise<DomainRow | undefined> {
  const { rows } = await tx.query<DomainRow>(`SELECT ${COLUMNS} FROM custom_domains WHERE id = $1`, [id]);
  return rows[0];
}

export async function findDomainByHostname(tx: Tx, hostname: string): Promise<DomainRow | undefined> {
  const { rows } = await tx.query<DomainRow>(`SELECT ${COLUMNS} FROM custom_domains WHERE hostname = $1`, [hostname]);
  return rows[0];
}

export async function listDomains(tx: Tx, filter: { after: string | null; limit: number }): Promise<DomainRow[]> {
  const { rows } = await tx.query<DomainRow>(
    `SELECT ${COLUMNS} FROM custom_domains WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2`,
    [filter.after, filter.limit + 1],
  );
  return rows;
}

export async function recordCheck(tx: Tx, id: string, check: { verified: boolean; reason: string | null }): Promise<DomainRow> {
  const { rows } = await tx.query<DomainRow>(
    `UPDATE custom_domains SET
       status = CASE WHEN $2 THEN 'verified' ELSE status END,
       verified_at = CASE WHEN $2 THEN now() ELSE verified_at END,
       last_checked_at = now(), last_check_reason = $3, updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, check.verified, check.reason],
  );
  return rows[0] as DomainRow;
}

export async function deleteDomain(tx: Tx, id: string): Promise<DomainRow | undefined> {
  const { rows } = await tx.query<DomainRow>(`DELETE FROM custom_domains WHERE id = $1 RETURNING ${COLUMNS}`, [id]);
  return rows[0];
}

// ── verified_domains: control plane, one owner per hostname (see migration 0004) ──

/** The tenant that verified the hostname, if any. Reads across tenants: the table has no RLS by design. */
export async function findHostnameOwner(tx: Tx, hostname: string): Promise<string | undefined> {
  const { rows } = await tx.query<{ tenant_id: string }>('SELECT tenant_id FROM verified_domains WHERE hostname = $1', [hostname]);
  return rows[0]?.tenant_id;
}

/** Claims the hostname for the tenant; answers the owner after the statement (the caller compares). */
export async function claimHostname(tx: Tx, claim: { hostname: string; tenantId: string; domainId: string }): Promise<string> {
  const { rows } = await tx.query<{ tenant_id: string }>(
    `INSERT INTO verified_domains (hostname, tenant_id, domain_id) VALUES ($1, $2, $3)
     ON CONFLICT (hostname) DO NOTHING RETURNING tenant_id`,
    [claim.hostname, claim.tenantId, claim.domainId],
  );
  return rows[0]?.tenant_id ?? ((await findHostnameOwner(tx, claim.hostname)) as string);
}
