-- Single sign-on with OpenID Connect per tenant (F-B6) and operator impersonation (F-B8).
-- Every table is tenant-owned: the state of a login in progress, the one-time codes and the
-- impersonation grants are reached through a credential that names its tenant (see sso.service.ts),
-- so none of them needs a control-plane lookup.

-- ───────────────────────────── SSO ─────────────────────────────

-- One OpenID Connect provider per tenant. The client secret is sealed with AES-256-GCM under the
-- master key (associated data: the tenant id), never stored or returned in clear.
CREATE TABLE sso_connections (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  issuer text NOT NULL CHECK (length(issuer) BETWEEN 8 AND 500),
  client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 500),
  client_secret_sealed text,
  scopes text[] NOT NULL DEFAULT ARRAY['openid', 'email', 'profile'],
  allowed_domains text[] NOT NULL DEFAULT '{}',
  role_mappings jsonb NOT NULL DEFAULT '[]',
  default_role text NOT NULL,
  enforced boolean NOT NULL DEFAULT false,
  link_existing_by_email boolean NOT NULL DEFAULT false,
  return_urls text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id),
  FOREIGN KEY (tenant_id, default_role) REFERENCES roles (tenant_id, key)
);
SELECT palazzo_enable_tenant_isolation('sso_connections');

-- A user's identity at the tenant's provider: the key is (issuer, subject), never the email.
CREATE TABLE sso_identities (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  issuer text NOT NULL,
  subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
  user_id uuid NOT NULL,
  email text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, issuer, subject),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sso_identities_user_idx ON sso_identities (tenant_id, user_id);
SELECT palazzo_enable_tenant_isolation('sso_identities');

-- A login in progress: state (only its SHA-256), nonce and PKCE verifier kept server side,
-- single use (used_at) and short-lived (expires_at).
CREATE TABLE sso_login_states (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  state_hash text NOT NULL,
  nonce text NOT NULL,
  code_verifier_sealed text NOT NULL,
  issuer text NOT NULL,
  return_url text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (tenant_id, state_hash)
);
SELECT palazzo_enable_tenant_isolation('sso_login_states');

-- The one-time code a browser carries back to the client after a login (exchanged for tokens).
CREATE TABLE sso_exchange_codes (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  code_hash text NOT NULL,
  user_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (tenant_id, code_hash),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
SELECT palazzo_enable_tenant_isolation('sso_exchange_codes');

-- ───────────────────────────── impersonation ─────────────────────────────

-- An operator's time-boxed permission to act inside the tenant. The operator id is a control-plane
-- id (no foreign key across planes: the row must survive in the tenant's history as it was).
CREATE TABLE impersonation_grants (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  operator_id uuid NOT NULL,
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  user_id uuid,
  role_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
SELECT palazzo_enable_tenant_isolation('impersonation_grants');
