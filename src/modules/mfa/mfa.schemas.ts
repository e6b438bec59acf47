import { Type } from 'typebox';
import { NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts';

export const Code = Type.String({
  minLength: 1,
  maxLength: 32,
  description: 'A 6-digit code of the authenticator app or of the email, or a recovery code (XXXX-XXXX-XXXX-XXXX)',
});

export const MfaBody = Type.Object(
  { mfaToken: Type.String({ minLength: 1, maxLength: 200, description: 'From the login answer' }), code: Code },
  { additionalProperties: false },
);

const RecoveryCodes = Type.Array(Type.String(), {
  description: 'Ten single-use recovery codes, shown once: store them somewhere safe',
});

export const MfaTokens = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires' }),
  tokenType: Type.Literal('Bearer'),
  recoveryCodes: Type.Optional(RecoveryCodes),
});

export const ReauthenticateBody = Type.Object(
  {
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Accounts without a second factor' })),
    code: Type.Optional(Code),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const Reauthenticated = Type.Object({
  authTime: Timestamp,
  amr: Type.Array(Type.String(), { description: 'How the session has authenticated (RFC 8176)' }),
});

export const MfaStatus = Type.Object({
  totp: Type.Object({
    status: Type.Union([Type.Literal('none'), Type.Literal('pending'), Type.Literal('active')]),
    confirmedAt: NullableTimestamp,
  }),
  recoveryCodesRemaining: Type.Integer(),
});

export const TotpEnrollment = Type.Object({
  otpauthUri: Type.String({ description: 'otpauth://totp/… URI: show it as a QR code' }),
  secret: Type.String({ description: 'The same secret in base32, for typing into an app by hand' }),
});

export const ConfirmBody = Type.Object({ code: Code }, { additionalProperties: false });

export const RecoveryCodeList = Type.Object({ recoveryCodes: RecoveryCodes });
