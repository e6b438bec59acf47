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
  user: Type.Optional(Type.Object({ id: Type.String(), email: Type.String(), name: Type.String(), role: Type.String() })),
  apiKey: Type.Optional(Type.Object({ id: Type.String() })),
  permissions: Type.Array(Type.String()),
});
