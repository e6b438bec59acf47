import { Type } from 'typebox';
import { Email, NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts';

/** The policy (15+ characters, blocklist, context words) answers 400 weak_password with a `reason`; the schema bounds size only. */
const Password = Type.String({ minLength: 1, maxLength: 1024 });
const Token = Type.String({ minLength: 1, maxLength: 200, description: 'The token from the link in the mail (after `#token=`)' });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Locale = Type.String({ minLength: 2, maxLength: 35, description: 'BCP 47 locale tag, e.g. "it" or "en-GB"' });

export const SignupBody = Type.Object(
  {
    organization: Type.String({ minLength: 1, maxLength: 200, description: 'The name of the new tenant' }),
    slug: Type.String({
      pattern: '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$',
      maxLength: 63,
      description: 'The tenant slug, used to sign in',
    }),
    name: Name,
    email: Email,
    password: Password,
    locale: Type.Optional(Locale),
  },
  { additionalProperties: false },
);

export const SignupResult = Type.Object({
  tenant: Type.Object({ id: Type.String(), slug: Type.String(), name: Type.String(), tier: Type.String(), locale: Type.String() }),
  user: Type.Object({ id: Type.String(), email: Type.String(), name: Type.String(), role: Type.String(), emailVerified: Type.Boolean() }),
});

export const TokenBody = Type.Object({ token: Token }, { additionalProperties: false });

export const VerifyEmailResult = Type.Object({ email: Type.String(), emailVerified: Type.Literal(true) });

export const Accepted = Type.Object({ status: Type.Literal('accepted'), message: Type.String() });

export const PasswordResetBody = Type.Object(
  {
    tenant: Type.String({ minLength: 1, maxLength: 63, description: 'The tenant slug' }),
    email: Type.String({ minLength: 3, maxLength: 254 }),
  },
  { additionalProperties: false },
);

export const PasswordResetConfirmBody = Type.Object({ token: Token, password: Password }, { additionalProperties: false });

export const ChangePasswordBody = Type.Object({ currentPassword: Password, newPassword: Password }, { additionalProperties: false });

export const InvitationStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('accepted'),
  Type.Literal('revoked'),
  Type.Literal('expired'),
]);

export const Invitation = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  role: Type.String(),
  status: InvitationStatus,
  invitedBy: Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) }),
  expiresAt: Timestamp,
  acceptedAt: NullableTimestamp,
  acceptedUserId: Type.Union([Type.String(), Type.Null()]),
  revokedAt: NullableTimestamp,
  createdAt: Timestamp,
});

export const CreateInvitationBody = Type.Object(
  {
    email: Email,
    role: Type.String({ minLength: 1, maxLength: 40 }),
    locale: Type.Optional({ ...Locale, description: 'Language of the invitation mail (default: the tenant locale)' }),
  },
  { additionalProperties: false },
);

export const AcceptInvitationBody = Type.Object({ token: Token, password: Password, name: Name }, { additionalProperties: false });

export const AcceptInvitationResult = Type.Object({
  tenant: Type.Object({ id: Type.String(), slug: Type.String(), name: Type.String() }),
  user: Type.Object({ id: Type.String(), email: Type.String(), name: Type.String(), role: Type.String(), emailVerified: Type.Boolean() }),
});
