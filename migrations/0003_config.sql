-- Configuration engine (F-C1–C4): levels built-in defaults (code) → global → industry profile → tier → tenant.
-- Every change at any level is a version row (the document after the change, its diff, author and message);
-- the current document of a level is its highest version. Writers insert version N+1: the primary key makes
-- two concurrent writers of the same level collide instead of losing an update.

-- ───────────── control plane (operators) ─────────────

CREATE TABLE config_profiles (
  name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{1,39}$'),
  description text NOT NULL DEFAULT '',
  builtin boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE config_versions (
  scope text NOT NULL CHECK (scope IN ('global', 'profile', 'tier')),
  name text NOT NULL,
  version integer NOT NULL CHECK (version > 0),
  document jsonb NOT NULL,
  diff jsonb NOT NULL,
  message text,
  author_type text NOT NULL CHECK (author_type IN ('user', 'api_key', 'operator', 'system')),
  author_id text,
  restored_from integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, name, version),
  CHECK ((scope = 'global') = (name = ''))
);

-- A global change given to a deterministic share of tenants first, widened by operators and rolled back
-- (automatically when the cohort's error rate exceeds the others' by more than error_threshold).
CREATE TABLE config_rollouts (
  id uuid PRIMARY KEY,
  patch jsonb NOT NULL,
  percentage integer NOT NULL CHECK (percentage BETWEEN 0 AND 100),
  error_threshold double precision NOT NULL CHECK (error_threshold > 0 AND error_threshold <= 1),
  min_requests integer NOT NULL CHECK (min_requests > 0),
  message text,
  status text NOT NULL CHECK (status IN ('active', 'completed', 'rolled_back')),
  author_type text NOT NULL,
  author_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  rollback jsonb,
  completed_version integer
);
CREATE INDEX config_rollouts_active ON config_rollouts (created_at) WHERE status = 'active';

GRANT SELECT, INSERT, UPDATE ON config_profiles, config_versions, config_rollouts TO palazzo_app;

-- ───────────── tenant data ─────────────

CREATE TABLE tenant_config_versions (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  version integer NOT NULL CHECK (version > 0),
  document jsonb NOT NULL,
  diff jsonb NOT NULL,
  message text,
  author_type text NOT NULL CHECK (author_type IN ('user', 'api_key', 'operator', 'system')),
  author_id text,
  restored_from integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, version)
);
SELECT palazzo_enable_tenant_isolation('tenant_config_versions');
