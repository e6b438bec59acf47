import { Type } from 'typebox';
import { Email, NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts';

/** Passwords: length rules are checked by the policy (400 weak_password); the schema bounds size only. */
export const Password = Type.String({ minLength: 1, maxLength: 1024 });

export const LoginBody = Type.Object(
  {
    tenant: Type.String({ minLength: 1, maxLength: 63, description: 'The tenant slug' }),
    email: Type.String({ minLength: 3, maxLength: 254 }),
    password: Password,
  },
  { additionalProperties: false },
);

export const TokenPair = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires' }),
  tokenType: Type.Literal('Bearer'),
});

export const MfaChallenge = Type.Object(
  {
    mfaRequired: Type.Literal(true),
    mfaToken: Type.String({ description: 'Single-use, short-lived; send it with the code to POST /v1/auth/mfa' }),
    method: Type.Union([Type.Literal('totp'), Type.Literal('email'), Type.Literal('totp_enrollment')], {
      description:
        'totp: a code of the enrolled authenticator (or a recovery code); email: a one-time code sent by email (new device or network, or recent failures); totp_enrollment: the tenant requires MFA and the account has none: add otpauthUri to an authenticator and send its code',
    }),
    expiresIn: Type.Integer({ description: 'Seconds until mfaToken expires' }),
    otpauthUri: Type.Optional(Type.String({ description: 'Only for totp_enrollment: the otpauth:// URI to show as a QR code' })),
  },
  { description: 'The password was right; a second factor is needed' },
);

export const LoginResponse = Type.Union([
  Type.Object({
    ...TokenPair.properties,
    mfaEnrollmentDue: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'The tenant requires MFA for this account: enrol a factor before this time or login will require it',
      }),
    ),
  }),
  MfaChallenge,
]);

export const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

export const User = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  name: Type.String(),
  role: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('deactivated')]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  lastLoginAt: NullableTimestamp,
  deactivatedAt: NullableTimestamp,
  emailVerified: Type.Boolean({ description: 'Whether the user proved the address (verification link, password reset or invitation)' }),
});

const Name = Type.String({ minLength: 1, maxLength: 200 });
const RoleKey = Type.String({ minLength: 1, maxLength: 40 });

export const CreateUserBody = Type.Object({ email: Email, name: Name, role: RoleKey, password: Password }, { additionalProperties: false });

export const UpdateUserBody = Type.Object(
  { name: Type.Optional(Name), role: Type.Optional(RoleKey) },
  { additionalProperties: false, minProperties: 1 },
);

export const TenantBrief = Type.Object({
  id: Type.String({ format: 'uuid' }),
  slug: Type.String(),
  name: Type.String(),
  tier: Type.String(),
  status: Type.String(),
});

export const Me = Type.Object({
  kind: Type.Union([Type.Literal('user'), Type.Literal('api_key')]),
  tenant: TenantBrief,
  user: Type.Optional(
    Type.Object({ id: Type.String(), email: Type.String(), name: Type.String(), role: Type.String(), emailVerified: Type.Boolean() }),
  ),
  apiKey: Type.Optional(Type.Object({ id: Type.String() })),
  permissions: Type.Array(Type.String()),
});
