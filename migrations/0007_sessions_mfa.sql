-- Sessions in depth (F-B2) and second factors (F-B3): when and how a session was authenticated
-- (step-up), TOTP factors, recovery codes and pending second-factor challenges of a login.

-- ───────────────────────────── sessions ─────────────────────────────

-- auth_time: the last time the user proved who they are in this session (login, second factor,
-- POST /v1/auth/reauthenticate); sensitive changes need it to be recent. NULL (sessions opened
-- before this migration) counts as never: such sessions must re-authenticate for a sensitive change.
-- amr: how (RFC 8176 values: pwd, otp, mfa, email).
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS auth_time timestamptz;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS amr text[] NOT NULL DEFAULT '{pwd}';
CREATE INDEX IF NOT EXISTS sessions_user_recent_idx ON sessions (tenant_id, user_id, created_at DESC);

-- ───────────────────────────── TOTP ─────────────────────────────

-- One TOTP factor per user. The seed is sealed with AES-256-GCM under the master key (bound to the
-- tenant and user as associated data). A code is accepted only for a time step after last_used_step,
-- so a code is never accepted twice and an older code is refused after a newer one (RFC 6238 §5.2).
CREATE TABLE mfa_totp (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  user_id uuid NOT NULL,
  secret_sealed text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'active')),
  last_used_step bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  confirmed_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
SELECT palazzo_enable_tenant_isolation('mfa_totp');

-- Single-use recovery codes, stored only as salted SHA-256 (`<salt>$<hash>`): each code has 80
-- random bits, so a fast salted hash suffices (ASVS 6.5.2's entropy rule).
CREATE TABLE mfa_recovery_codes (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  user_id uuid NOT NULL,
  code_hash text NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX mfa_recovery_codes_user_idx ON mfa_recovery_codes (tenant_id, user_id);
SELECT palazzo_enable_tenant_isolation('mfa_recovery_codes');

-- ───────────────────────────── login challenges ─────────────────────────────

-- A login that passed the password step and waits for a second factor. The client holds the
-- mfaToken (shown once, stored as SHA-256); it is short-lived, single-use and bound to the user
-- and tenant. method: totp (enrolled factor), email (one-time code sent by mail, adaptive),
-- totp_enrollment (the tenant requires MFA and the user has none: the code confirms a new factor).
CREATE TABLE mfa_challenges (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  user_id uuid NOT NULL,
  token_hash text NOT NULL,
  method text NOT NULL CHECK (method IN ('totp', 'email', 'totp_enrollment')),
  code_hash text,
  attempts integer NOT NULL DEFAULT 0,
  signals jsonb NOT NULL DEFAULT '{}',
  ip text,
  user_agent text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT mfa_challenges_token_key UNIQUE (tenant_id, token_hash),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (tenant_id, user_id, created_at DESC);
SELECT palazzo_enable_tenant_isolation('mfa_challenges');
