/** The columns the API key repository selects (src/modules/api-keys/api-keys.repo.ts), for reads outside the app. */
export const API_KEY_COLUMNS = `id, name, scopes, hint, created_by_type, created_by_id, expires_at, revoked_at, last_used_at,
  usage_count::float8 AS usage_count, created_at, updated_at`;

/** The B2 read without RLS (B2 baseline): the tenant is an explicit predicate. */
export const PLAIN_READ = `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2`;

/** The B2 read as the app issues it: the tenant comes from the RLS policies. */
export const RLS_READ = `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE id = $1`;
