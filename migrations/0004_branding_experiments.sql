-- Branding and white-label (F-D1), custom domains, localization per user (F-D2) and A/B
-- experiments (F-C5).

-- ───────────────────────────── localization ─────────────────────────────

-- A user's own locale and time zone; NULL inherits the tenant's (tenants.locale / tenants.timezone).
ALTER TABLE users ADD COLUMN locale text CHECK (locale IS NULL OR locale ~ '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$');
ALTER TABLE users ADD COLUMN timezone text CHECK (timezone IS NULL OR length(timezone) BETWEEN 1 AND 64);

-- ───────────────────────────── branding ─────────────────────────────

-- One row per tenant. The tenant's display name stays in tenants.name (one source of truth).
-- The logo is at most 256 KiB and stored here, so every node serves it without shared files.
CREATE TABLE tenant_branding (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  colors jsonb NOT NULL DEFAULT '{}',
  font_family text,
  logo bytea,
  logo_content_type text CHECK (logo_content_type IS NULL OR logo_content_type IN ('image/png', 'image/svg+xml')),
  logo_sha256 text,
  logo_updated_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id),
  CHECK (logo IS NULL OR octet_length(logo) <= 262144),
  CHECK ((logo IS NULL) = (logo_content_type IS NULL))
);
SELECT palazzo_enable_tenant_isolation('tenant_branding');

-- ───────────────────────────── custom domains ─────────────────────────────

-- A domain a tenant claims. Several tenants may claim the same hostname while it is unverified;
-- the first to prove it with the DNS TXT record owns it (verified_domains below).
CREATE TABLE custom_domains (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  hostname text NOT NULL CHECK (hostname = lower(hostname) AND length(hostname) <= 253),
  token text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified')),
  verified_at timestamptz,
  last_checked_at timestamptz,
  last_check_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT custom_domains_hostname_key UNIQUE (tenant_id, hostname)
);
SELECT palazzo_enable_tenant_isolation('custom_domains');

-- Control plane: which tenant a verified hostname belongs to. Public pages resolve the tenant from
-- the Host header before any tenant context exists, and a hostname is verified by one tenant only
-- (the primary key), which a tenant-scoped table cannot enforce. Reached only by the domains module.
CREATE TABLE verified_domains (
  hostname text PRIMARY KEY CHECK (hostname = lower(hostname)),
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  domain_id uuid NOT NULL,
  verified_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, domain_id) REFERENCES custom_domains (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX verified_domains_tenant_idx ON verified_domains (tenant_id, domain_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON verified_domains TO palazzo_app;

-- ───────────────────────────── experiments ─────────────────────────────

CREATE TABLE experiments (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  key text NOT NULL CHECK (key ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
  description text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'running', 'stopped')),
  -- [{ "key": "control", "weight": 50 }, ...]: weights are integers summing to 100 (checked by the service).
  variants jsonb NOT NULL,
  control_variant text NOT NULL,
  started_at timestamptz,
  stopped_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT experiments_key_key UNIQUE (tenant_id, key)
);
SELECT palazzo_enable_tenant_isolation('experiments');

-- One exposure and one conversion at most per subject: the primary key makes events idempotent.
CREATE TABLE experiment_events (
  tenant_id uuid NOT NULL,
  experiment_id uuid NOT NULL,
  subject_id text NOT NULL CHECK (length(subject_id) BETWEEN 1 AND 200),
  type text NOT NULL CHECK (type IN ('exposure', 'conversion')),
  variant text NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, experiment_id, subject_id, type),
  FOREIGN KEY (tenant_id, experiment_id) REFERENCES experiments (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX experiment_events_variant_idx ON experiment_events (tenant_id, experiment_id, type, variant);
SELECT palazzo_enable_tenant_isolation('experiment_events');
