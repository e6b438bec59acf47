import { Type } from 'typebox';
import { Timestamp } from '../../platform/http/schemas.ts';

const RoleKey = Type.String({ pattern: '^[a-z][a-z0-9_-]{1,39}$', description: 'A role key of the tenant (not `owner`)' });
const Url = Type.String({ minLength: 8, maxLength: 500, pattern: '^https?://', description: 'Absolute http(s) URL' });

export const RoleMapping = Type.Object(
  {
    claim: Type.String({ minLength: 1, maxLength: 100, description: 'ID token claim, e.g. `groups`' }),
    value: Type.String({ minLength: 1, maxLength: 200, description: 'Value the claim must equal, or contain when it is a list' }),
    role: RoleKey,
  },
  { additionalProperties: false },
);

const settings = {
  issuer: Type.String({
    minLength: 8,
    maxLength: 500,
    pattern: '^https?://',
    description: 'Issuer identifier; its discovery document must name exactly this issuer',
  }),
  clientId: Type.String({ minLength: 1, maxLength: 500 }),
  scopes: Type.Optional(
    Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,100}$' }), {
      minItems: 1,
      maxItems: 20,
      uniqueItems: true,
      description: 'Scopes requested; must include `openid` (default: openid email profile)',
    }),
  ),
  allowedDomains: Type.Optional(
    Type.Array(Type.String({ minLength: 3, maxLength: 253, pattern: '^[A-Za-z0-9.-]+$' }), {
      maxItems: 50,
      uniqueItems: true,
      description: 'Email domains allowed to sign in (exact match); empty: any domain',
    }),
  ),
  roleMappings: Type.Optional(
    Type.Array(RoleMapping, {
      maxItems: 50,
      description: 'Claim-to-role rules, first match wins; applied at every login (an owner is never changed)',
    }),
  ),
  defaultRole: Type.Optional(
    Type.String({ pattern: '^[a-z][a-z0-9_-]{1,39}$', description: 'Role when no mapping matches (default: member); not owner' }),
  ),
  enforced: Type.Optional(
    Type.Boolean({ description: 'SSO mandatory: password login answers 403 sso_required, except for owners (break-glass)' }),
  ),
  linkExistingByEmail: Type.Optional(
    Type.Boolean({
      description:
        'At the first SSO login of an email that already has a user without any SSO identity, link them (default false: refused)',
    }),
  ),
  returnUrls: Type.Optional(
    Type.Array(Url, {
      maxItems: 10,
      uniqueItems: true,
      description: 'Allowed `returnUrl` values of the login start; the one-time code is sent there',
    }),
  ),
};

export const PutConnectionBody = Type.Object(
  {
    ...settings,
    clientSecret: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 1000 }), Type.Null()], {
        description: 'Client secret, encrypted at rest; omitted: keep the stored one; null: public client (PKCE only)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const Connection = Type.Object({
  issuer: Type.String(),
  clientId: Type.String(),
  hasClientSecret: Type.Boolean({ description: 'The secret itself is never returned' }),
  scopes: Type.Array(Type.String()),
  allowedDomains: Type.Array(Type.String()),
  roleMappings: Type.Array(RoleMapping),
  defaultRole: Type.String(),
  enforced: Type.Boolean(),
  linkExistingByEmail: Type.Boolean(),
  returnUrls: Type.Array(Type.String()),
  redirectUri: Type.String({ description: 'Register this callback URL at the provider' }),
  ssoAllowed: Type.Boolean({ description: "Whether the tenant's tier includes SSO (enforcement applies only then)" }),
  loginUrl: Type.String({ description: 'Where users start a login' }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const StartParams = Type.Object({ tenantSlug: Type.String({ maxLength: 63 }) });
export const StartQuery = Type.Object({
  returnUrl: Type.Optional(
    Type.String({
      maxLength: 500,
      description: 'One of the configured returnUrls: the browser comes back there with `?code=`; omitted: the callback answers JSON',
    }),
  ),
});

export const CallbackQuery = Type.Object({
  code: Type.Optional(Type.String({ maxLength: 2048 })),
  state: Type.String({ maxLength: 200, description: 'Required: a response without the state is malformed (400)' }),
  iss: Type.Optional(Type.String({ maxLength: 500 })),
  error: Type.Optional(Type.String({ maxLength: 200 })),
  error_description: Type.Optional(Type.String({ maxLength: 1000 })),
});

export const ExchangeBody = Type.Object(
  { code: Type.String({ minLength: 10, maxLength: 200, description: 'The one-time code of the return URL (60 s, single use)' }) },
  { additionalProperties: false },
);
