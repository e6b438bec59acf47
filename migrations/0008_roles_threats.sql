-- Custom roles with attribute conditions (F-B5) and threat detection (F-B7).

-- ───────────────────────────── custom roles ─────────────────────────────

-- Conditional grants of a role: [{ "permission": "users.write", "condition": { "attribute": "role",
-- "in": ["member"] } }]. Each names a permission of the role's `permissions`; validated by the access
-- module (src/modules/access/conditions.ts) before it is stored.
ALTER TABLE roles ADD COLUMN conditions jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(conditions) = 'array');

-- An API key made by a principal whose grants carry conditions inherits them, bound to its maker,
-- so that a key never reaches further than the one who made it.
ALTER TABLE api_keys ADD COLUMN conditions jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(conditions) = 'array');

-- ───────────────────────────── threat detection ─────────────────────────────

-- Automatic responses of the anomaly detector, lifted by a tenant admin (or, for locks, by time).
ALTER TABLE users ADD COLUMN locked_until timestamptz;
ALTER TABLE users ADD COLUMN lock_reason text;
ALTER TABLE api_keys ADD COLUMN suspended_at timestamptz;
ALTER TABLE api_keys ADD COLUMN suspend_reason text;

-- Filters of GET /v1/security-events (severity, actor, time range), newest first.
CREATE INDEX security_events_severity_idx ON security_events (tenant_id, severity, id);
-- Not partial: every insert maintains it alike, with or without an actor (login timing, T14).
CREATE INDEX security_events_actor_idx ON security_events (tenant_id, actor_id, id);
