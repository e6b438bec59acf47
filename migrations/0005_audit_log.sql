-- Audit log (F-I1): every change made through the API, appended in the transaction of the change,
-- hash-chained per tenant. The request role may read and append, never rewrite: it has no UPDATE
-- or DELETE on audit_log, and a trigger refuses both to everyone outside the two maintenance
-- functions below (retention and tenant purge), which run as the owner.

CREATE TABLE audit_log (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  seq bigint NOT NULL CHECK (seq >= 1),
  id uuid NOT NULL,
  at timestamptz NOT NULL,
  actor_type text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'operator', 'system', 'anonymous')),
  actor_id text,
  -- The operator behind an impersonation token, when the actor acts through one.
  impersonator_id text,
  action text NOT NULL CHECK (length(action) BETWEEN 1 AND 200),
  outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
  target_type text,
  target_id text,
  summary jsonb NOT NULL DEFAULT '{}',
  request_id text,
  ip text,
  prev_hash bytea NOT NULL,
  hash bytea NOT NULL,
  PRIMARY KEY (tenant_id, seq),
  UNIQUE (tenant_id, id)
);
CREATE INDEX audit_log_at ON audit_log (tenant_id, at);
CREATE INDEX audit_log_action ON audit_log (tenant_id, action, seq);
SELECT palazzo_enable_tenant_isolation('audit_log');
REVOKE UPDATE, DELETE ON audit_log FROM palazzo_app;

-- The head of each tenant's chain: the last sequence number and hash, and the anchor left by
-- retention (the hash of the newest pruned entry, which the oldest kept entry chains to).
CREATE TABLE audit_heads (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  seq bigint NOT NULL,
  hash bytea NOT NULL,
  anchor_seq bigint NOT NULL DEFAULT 0,
  anchor_hash bytea NOT NULL,
  PRIMARY KEY (tenant_id)
);
SELECT palazzo_enable_tenant_isolation('audit_heads');

CREATE OR REPLACE FUNCTION palazzo_audit_immutable() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  IF current_setting('palazzo.audit_maintenance', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = '42501';
  END IF;
  IF TG_OP = 'UPDATE' THEN RETURN NEW; END IF;
  RETURN OLD;
END
$fn$;
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION palazzo_audit_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION palazzo_audit_immutable();

-- Retention: removes the current tenant's entries older than `before`, keeping the hash of the
-- newest removed one as the chain's anchor. Runs as the owner; bounded to app.tenant_id.
CREATE OR REPLACE FUNCTION palazzo_audit_prune(before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
  tid uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
  last_seq bigint;
  last_hash bytea;
  removed bigint;
BEGIN
  IF tid IS NULL THEN RAISE EXCEPTION 'palazzo_audit_prune needs a tenant scope'; END IF;
  SELECT seq, hash INTO last_seq, last_hash FROM audit_log
   WHERE tenant_id = tid AND at < before ORDER BY seq DESC LIMIT 1;
  IF last_seq IS NULL THEN RETURN 0; END IF;
  PERFORM set_config('palazzo.audit_maintenance', 'on', true);
  DELETE FROM audit_log WHERE tenant_id = tid AND seq <= last_seq;
  GET DIAGNOSTICS removed = ROW_COUNT;
  PERFORM set_config('palazzo.audit_maintenance', 'off', true);
  UPDATE audit_heads SET anchor_seq = last_seq, anchor_hash = last_hash WHERE tenant_id = tid;
  RETURN removed;
END
$fn$;
REVOKE ALL ON FUNCTION palazzo_audit_prune(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palazzo_audit_prune(timestamptz) TO palazzo_app;

-- Tenant purge: removes every audit entry of the current tenant (the tenant is being erased).
CREATE OR REPLACE FUNCTION palazzo_audit_erase() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
  tid uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
  removed bigint;
BEGIN
  IF tid IS NULL THEN RAISE EXCEPTION 'palazzo_audit_erase needs a tenant scope'; END IF;
  IF NOT EXISTS (SELECT 1 FROM tenants WHERE id = tid AND status IN ('offboarding', 'deleted')) THEN
    RAISE EXCEPTION 'the audit log is erased only with its tenant (offboarding or deleted)';
  END IF;
  PERFORM set_config('palazzo.audit_maintenance', 'on', true);
  DELETE FROM audit_log WHERE tenant_id = tid;
  GET DIAGNOSTICS removed = ROW_COUNT;
  PERFORM set_config('palazzo.audit_maintenance', 'off', true);
  RETURN removed;
END
$fn$;
REVOKE ALL ON FUNCTION palazzo_audit_erase() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palazzo_audit_erase() TO palazzo_app;
