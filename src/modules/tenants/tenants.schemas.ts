import { Type } from 'typebox';
import { Email, NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts';
import { CustomLimits, TierLimits } from './tiers.ts';

const Slug = Type.String({
  pattern: '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$',
  minLength: 1,
  maxLength: 63,
  description: 'URL-safe: lowercase letters, digits and inner hyphens',
});
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Metadata = Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), { maxProperties: 50 });
const Locale = Type.String({ pattern: '^[a-z]{2,3}(?:-[A-Z]{2})?$', maxLength: 10 });
const Timezone = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z_+\\-/0-9]+$' });
const Profile = Type.Union([Type.String({ pattern: '^[a-z][a-z0-9_]{1,39}$' }), Type.Null()]);
const Region = Type.Union([Type.String({ pattern: '^[a-z0-9-]{2,40}$' }), Type.Null()]);

export const TenantStatus = Type.Union([
  Type.Literal('provisioning'),
  Type.Literal('active'),
  Type.Literal('suspended'),
  Type.Literal('offboarding'),
  Type.Literal('deleted'),
]);

export const Tenant = Type.Object({
  id: Type.String({ format: 'uuid' }),
  slug: Type.String(),
  name: Type.String(),
  tier: Type.String(),
  status: TenantStatus,
  statusReason: Type.Union([Type.String(), Type.Null()]),
  profile: Type.Union([Type.String(), Type.Null()]),
  region: Type.Union([Type.String(), Type.Null()]),
  locale: Type.String(),
  timezone: Type.String(),
  metadata: Type.Record(Type.String(), Type.Unknown()),
  customLimits: Type.Record(Type.String(), Type.Unknown()),
  limits: TierLimits,
  suspendedAt: NullableTimestamp,
  offboardedAt: NullableTimestamp,
  purgeAfter: NullableTimestamp,
  purgedAt: NullableTimestamp,
  purgeReport: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const CreateTenantBody = Type.Object(
  {
    slug: Slug,
    name: Name,
    tier: Type.String({ minLength: 1, maxLength: 40, default: 'basic' }),
    profile: Type.Optional(Profile),
    region: Type.Optional(Region),
    locale: Type.Optional(Locale),
    timezone: Type.Optional(Timezone),
    metadata: Type.Optional(Metadata),
    customLimits: Type.Optional(CustomLimits),
    owner: Type.Object(
      { email: Email, name: Name, password: Type.String({ minLength: 1, maxLength: 1024 }) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export const UpdateTenantBody = Type.Object(
  {
    name: Type.Optional(Name),
    tier: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
    profile: Type.Optional(Profile),
    region: Type.Optional(Region),
    locale: Type.Optional(Locale),
    timezone: Type.Optional(Timezone),
    metadata: Type.Optional(Metadata),
    customLimits: Type.Optional(CustomLimits),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const SuspendBody = Type.Object({ reason: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false });
export const OffboardBody = Type.Object(
  { graceDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 365, description: 'Days before the purge (default 30)' })) },
  { additionalProperties: false },
);

export const PurgeResult = Type.Object({
  tenant: Tenant,
  report: Type.Object({
    tables: Type.Record(Type.String(), Type.Integer()),
    totalRows: Type.Integer(),
    verified: Type.Boolean(),
  }),
});

export const Tier = Type.Object({
  name: Type.String(),
  description: Type.String(),
  limits: TierLimits,
  updatedAt: Timestamp,
});

export const UpdateTierBody = Type.Object(
  { description: Type.Optional(Type.String({ maxLength: 500 })), limits: TierLimits },
  { additionalProperties: false },
);
