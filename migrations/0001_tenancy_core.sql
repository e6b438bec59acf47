-- Tenancy core: the restricted request role, the isolation rule applied to every tenant table,
-- the control plane (tiers, tenants, operators, signing keys, jobs) and the first tenant tables.

-- The role requests run as: owns nothing, not superuser, no BYPASSRLS. Created once per cluster.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'palazzo_app') THEN
    BEGIN
      CREATE ROLE palazzo_app LOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- another database of the same cluster created it concurrently
    END;
  END IF;
END $$;
ALTER ROLE palazzo_app NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
GRANT USAGE ON SCHEMA public TO palazzo_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- The isolation rule, applied to every tenant-owned table (see docs/adr/0001-tenant-isolation.md):
-- RLS enabled and forced; a RESTRICTIVE floor so that no later permissive policy can widen access
-- beyond the tenant; a permissive policy that grants the tenant its own rows. The tenant setting is
-- read once per statement (the sub-select) and a missing setting yields NULL, so no rows at all.
CREATE OR REPLACE FUNCTION palazzo_enable_tenant_isolation(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $fn$
DECLARE
  rule constant text := $r$tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)$r$;
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('DROP POLICY IF EXISTS tenant_floor ON %s', tbl);
  EXECUTE format('DROP POLICY IF EXISTS tenant_access ON %s', tbl);
  EXECUTE format('CREATE POLICY tenant_floor ON %s AS RESTRICTIVE FOR ALL USING (%s) WITH CHECK (%s)', tbl, rule, rule);
  EXECUTE format('CREATE POLICY tenant_access ON %s AS PERMISSIVE FOR ALL USING (%s) WITH CHECK (%s)', tbl, rule, rule);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO palazzo_app', tbl);
END
$fn$;
REVOKE ALL ON FUNCTION palazzo_enable_tenant_isolation(regclass) FROM PUBLIC;

-- ───────────────────────────── control plane ─────────────────────────────

CREATE TABLE tiers (
  name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{1,39}$'),
  description text NOT NULL DEFAULT '',
  limits jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  slug text NOT NULL CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  name text NOT NULL,
  tier text NOT NULL REFERENCES tiers (name),
  status text NOT NULL CHECK (status IN ('provisioning', 'active', 'suspended', 'offboarding', 'deleted')),
  profile text,
  region text,
  locale text NOT NULL DEFAULT 'en',
  timezone text NOT NULL DEFAULT 'UTC',
  metadata jsonb NOT NULL DEFAULT '{}',
  custom_limits jsonb NOT NULL DEFAULT '{}',
  status_reason text,
  suspended_at timestamptz,
  offboarded_at timestamptz,
  purge_after timestamptz,
  purged_at timestamptz,
  purge_report jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- A purged tenant keeps its tombstone row; its slug becomes free again.
CREATE UNIQUE INDEX tenants_slug_key ON tenants (slug) WHERE status <> 'deleted';
CREATE INDEX tenants_status_idx ON tenants (status, id);

CREATE TABLE operators (
  id uuid PRIMARY KEY,
  email text NOT NULL,
  name text NOT NULL,
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz
);
CREATE UNIQUE INDEX operators_email_key ON operators (email);

CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  public_jwk jsonb NOT NULL,
  private_jwk_sealed text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);

-- Durable jobs. A job names its tenant; the worker re-enters withTenant for tenant work.
CREATE TABLE jobs (
  id uuid PRIMARY KEY,
  kind text NOT NULL,
  tenant_id uuid REFERENCES tenants (id),
  payload jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
  priority integer NOT NULL DEFAULT 100,
  run_at timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 5,
  last_error text,
  locked_at timestamptz,
  result jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX jobs_ready_idx ON jobs (priority, run_at) WHERE status = 'queued';
CREATE INDEX jobs_tenant_idx ON jobs (tenant_id, kind);

CREATE TABLE instance_state (
  key text PRIMARY KEY,
  value jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE ON tiers, tenants, operators, signing_keys, instance_state TO palazzo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs TO palazzo_app;
GRANT SELECT ON palazzo_migrations TO palazzo_app;

-- ───────────────────────────── tenant data ─────────────────────────────

CREATE TABLE roles (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_-]{1,39}$'),
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  permissions text[] NOT NULL,
  builtin boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);
SELECT palazzo_enable_tenant_isolation('roles');

CREATE TABLE users (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  email text NOT NULL CHECK (email = lower(email)),
  name text NOT NULL,
  password_hash text,
  role_key text NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz,
  deactivated_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT users_email_key UNIQUE (tenant_id, email),
  FOREIGN KEY (tenant_id, role_key) REFERENCES roles (tenant_id, key)
);
SELECT palazzo_enable_tenant_isolation('users');

CREATE TABLE sessions (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  user_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoke_reason text,
  ip text,
  user_agent text,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user_idx ON sessions (tenant_id, user_id);
SELECT palazzo_enable_tenant_isolation('sessions');

CREATE TABLE refresh_tokens (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  session_id uuid NOT NULL,
  token_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT refresh_tokens_hash_key UNIQUE (tenant_id, token_hash),
  FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE
);
SELECT palazzo_enable_tenant_isolation('refresh_tokens');

CREATE TABLE api_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  name text NOT NULL,
  scopes text[] NOT NULL,
  hint text NOT NULL,
  created_by_type text NOT NULL CHECK (created_by_type IN ('user', 'api_key', 'operator', 'system')),
  created_by_id uuid,
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  usage_count bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT palazzo_enable_tenant_isolation('api_keys');

-- Each key has one current secret and, after a rotation, the previous one until its overlap ends.
CREATE TABLE api_key_secrets (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  key_hash text NOT NULL,
  api_key_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  PRIMARY KEY (tenant_id, key_hash),
  FOREIGN KEY (tenant_id, api_key_id) REFERENCES api_keys (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX api_key_secrets_key_idx ON api_key_secrets (tenant_id, api_key_id);
SELECT palazzo_enable_tenant_isolation('api_key_secrets');

CREATE TABLE security_events (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  type text NOT NULL,
  severity text NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
  actor_type text,
  actor_id uuid,
  ip text,
  request_id text,
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX security_events_type_idx ON security_events (tenant_id, type, id);
SELECT palazzo_enable_tenant_isolation('security_events');

CREATE TABLE tenant_settings (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  settings jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id)
);
SELECT palazzo_enable_tenant_isolation('tenant_settings');
