import type { Palazzo } from './app.ts';
import type { Config } from './platform/config.ts';
import { generatePassword } from './platform/crypto.ts';
import type { Database } from './platform/db/database.ts';

export type FirstRunCredentials = {
  operator?: { email: string; password: string; generated: boolean };
  defaultTenant?: { slug: string; email: string; password: string };
};

const DEFAULT_TENANT_FLAG = 'default_tenant_created';

/**
 * First start: an operator (from PALAZZO_OPERATOR_EMAIL / _PASSWORD, or a generated password that
 * is printed once) and a default tenant with its owner, so a single-organisation install works at
 * once. Both happen only once: a purged default tenant is not brought back.
 */
export async function bootstrap(palazzo: Palazzo, db: Database, config: Config): Promise<FirstRunCredentials> {
  const { operators, tenants } = palazzo.services;
  const result: FirstRunCredentials = {};
  if ((await operators.count()) === 0) {
    const email = config.operatorEmail ?? 'operator@palazzo.local';
    const password = config.operatorPassword ?? generatePassword();
    await operators.create({ email, name: 'Operator', password });
    result.operator = { email, password, generated: !config.operatorPassword };
  }
  const flag = await db.withControlPlane((tx) => tx.query('SELECT 1 FROM instance_state WHERE key = $1', [DEFAULT_TENANT_FLAG]));
  if (flag.rows.length === 0) {
    const email = config.operatorEmail ?? 'owner@palazzo.local';
    const password = generatePassword();
    const tenant = await tenants.create({
      slug: 'default',
      name: 'Default organisation',
      tier: 'enterprise',
      owner: { email, name: 'Owner', password },
    });
    await db.withControlPlane((tx) =>
      tx.query('INSERT INTO instance_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
        DEFAULT_TENANT_FLAG,
        JSON.stringify({ tenantId: tenant.id }),
      ]),
    );
    result.defaultTenant = { slug: 'default', email, password };
  }
  return result;
}
