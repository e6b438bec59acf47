-- Usage metering (F-H1) and quota alerts (F-A6).

-- Aggregated usage per tenant, metric, dimension (e.g. the route group of an API call) and period.
-- Billable quantities are added in the same transaction as the action that consumed them;
-- high-frequency counters (API calls) are added in batches.
CREATE TABLE usage_counters (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  metric text NOT NULL,
  dimension text NOT NULL DEFAULT '',
  granularity text NOT NULL CHECK (granularity IN ('hour', 'day', 'month')),
  period_start timestamptz NOT NULL,
  value bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, metric, granularity, period_start, dimension)
);
SELECT palazzo_enable_tenant_isolation('usage_counters');

-- A quota alert is recorded once per metric, period and threshold (80% and 100%).
CREATE TABLE usage_alerts (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  metric text NOT NULL,
  period_start timestamptz NOT NULL,
  threshold integer NOT NULL CHECK (threshold IN (80, 100)),
  used bigint NOT NULL,
  "limit" bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT usage_alerts_once UNIQUE (tenant_id, metric, period_start, threshold)
);
SELECT palazzo_enable_tenant_isolation('usage_alerts');
