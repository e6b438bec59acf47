import { Type, type Static } from 'typebox';

/** A numeric limit; `null` means unlimited. */
const Limit = Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]);

export const TierLimits = Type.Object(
  {
    seats: Limit,
    knowledgeBases: Limit,
    documents: Limit,
    storageBytes: Limit,
    requestsPerMinute: Limit,
    apiCallsPerMonth: Limit,
    llmTokensPerMonth: Limit,
    webhooks: Limit,
    customRoles: Limit,
    ssoAllowed: Type.Boolean(),
    auditRetentionDays: Type.Integer({ minimum: 1 }),
    jobPriority: Type.Integer({ minimum: 1, maximum: 1000, description: 'Lower runs first' }),
  },
  { additionalProperties: false },
);
export type TierLimits = Static<typeof TierLimits>;

export const CustomLimits = Type.Partial(TierLimits, { additionalProperties: false });
export type CustomLimits = Static<typeof CustomLimits>;

export const TIER_NAMES = ['basic', 'premium', 'enterprise', 'custom'] as const;
export type TierName = (typeof TIER_NAMES)[number];

const GiB = 1024 ** 3;

/** The built-in tiers (README "Tiers"). `custom` starts from enterprise and is overridden per tenant. */
export const BUILTIN_TIERS: Record<TierName, { description: string; limits: TierLimits }> = {
  basic: {
    description: 'Small teams getting started',
    limits: {
      seats: 5,
      knowledgeBases: 1,
      documents: 100,
      storageBytes: 1 * GiB,
      requestsPerMinute: 120,
      apiCallsPerMonth: 100_000,
      llmTokensPerMonth: 200_000,
      webhooks: 2,
      customRoles: 0,
      ssoAllowed: false,
      auditRetentionDays: 30,
      jobPriority: 300,
    },
  },
  premium: {
    description: 'Growing organisations',
    limits: {
      seats: 25,
      knowledgeBases: 5,
      documents: 2_000,
      storageBytes: 10 * GiB,
      requestsPerMinute: 600,
      apiCallsPerMonth: 1_000_000,
      llmTokensPerMonth: 2_000_000,
      webhooks: 10,
      customRoles: 5,
      ssoAllowed: false,
      auditRetentionDays: 180,
      jobPriority: 200,
    },
  },
  enterprise: {
    description: 'Large organisations with SSO and long audit retention',
    limits: {
      seats: 500,
      knowledgeBases: 50,
      documents: 50_000,
      storageBytes: 200 * GiB,
      requestsPerMinute: 3_000,
      apiCallsPerMonth: 10_000_000,
      llmTokensPerMonth: 20_000_000,
      webhooks: 50,
      customRoles: 50,
      ssoAllowed: true,
      auditRetentionDays: 730,
      jobPriority: 100,
    },
  },
  custom: {
    description: 'Negotiated limits: every limit can be overridden per tenant',
    limits: {
      seats: 500,
      knowledgeBases: 50,
      documents: 50_000,
      storageBytes: 200 * GiB,
      requestsPerMinute: 3_000,
      apiCallsPerMonth: 10_000_000,
      llmTokensPerMonth: 20_000_000,
      webhooks: 50,
      customRoles: 50,
      ssoAllowed: true,
      auditRetentionDays: 730,
      jobPriority: 100,
    },
  },
};

/**
 * Effective limits: the tier's, with the tenant's overrides when the tier is `custom`. A limit
 * added to the product after a tier was stored takes the built-in default of that tier.
 */
export function effectiveLimits(tier: string, tierLimits: TierLimits, custom: CustomLimits): TierLimits {
  const defaults = BUILTIN_TIERS[tier as TierName]?.limits ?? BUILTIN_TIERS.custom.limits;
  const base = { ...defaults, ...tierLimits };
  return tier === 'custom' ? { ...base, ...custom } : base;
}
