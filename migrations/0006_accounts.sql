-- Accounts (F-B1): email verification, password reset and invitation tokens; the mail outbox.

-- NULL until the user proves the address (a verification link, a password reset or an accepted
-- invitation, each of which was mailed to it). Unverified users may sign in; see docs/accounts.md.
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_verified_at timestamptz;

-- Single-use, expiring tokens mailed to a user. Only the SHA-256 of the token is stored (it carries
-- 256 random bits, so a fast hash is right). `email` is the address the token was sent to: a
-- verification proves that address, not whatever the account's address is by the time it is used.
CREATE TABLE IF NOT EXISTS account_tokens (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  purpose text NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
  user_id uuid NOT NULL,
  email text NOT NULL,
  token_hash text NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT account_tokens_hash_key UNIQUE (tenant_id, token_hash),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS account_tokens_user_idx ON account_tokens (tenant_id, user_id, purpose);
SELECT palazzo_enable_tenant_isolation('account_tokens');

-- An invitation of an email address to the tenant with a role. The role is checked again when the
-- invitation is accepted (no foreign key: deleting a custom role must not be blocked by an invite).
CREATE TABLE IF NOT EXISTS invitations (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  email text NOT NULL CHECK (email = lower(email)),
  role_key text NOT NULL,
  token_hash text NOT NULL,
  invited_by_type text NOT NULL CHECK (invited_by_type IN ('user', 'api_key', 'operator', 'system')),
  invited_by_id uuid,
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_user_id uuid,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT invitations_hash_key UNIQUE (tenant_id, token_hash),
  FOREIGN KEY (tenant_id, accepted_user_id) REFERENCES users (tenant_id, id)
);
-- One open invitation per address (an expired one is revoked when the address is invited again).
CREATE UNIQUE INDEX IF NOT EXISTS invitations_open_email_key ON invitations (tenant_id, email)
  WHERE accepted_at IS NULL AND revoked_at IS NULL;
SELECT palazzo_enable_tenant_isolation('invitations');

-- The transactional outbox of outbound mail: written in the transaction of the action that causes
-- the mail, delivered by a job when SMTP is configured, otherwise kept for an operator to read.
-- Control plane (like jobs): one queue for the instance that operators read across tenants; tenant
-- routes never read it. Bodies (which hold links with tokens) are sealed with the master key and
-- dropped once delivered.
CREATE TABLE IF NOT EXISTS mail_outbox (
  id uuid PRIMARY KEY,
  tenant_id uuid REFERENCES tenants (id),
  recipient text NOT NULL,
  template text NOT NULL,
  locale text NOT NULL,
  subject text NOT NULL,
  body_sealed text,
  status text NOT NULL CHECK (status IN ('kept', 'queued', 'sent', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  smtp_message_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz
);
CREATE INDEX IF NOT EXISTS mail_outbox_tenant_idx ON mail_outbox (tenant_id, id);
CREATE INDEX IF NOT EXISTS mail_outbox_status_idx ON mail_outbox (status, id);
GRANT SELECT, INSERT, UPDATE, DELETE ON mail_outbox TO palazzo_app;
