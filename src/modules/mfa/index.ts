export {
  CHALLENGE_TTL_SECONDS,
  createMfaService,
  MAX_ATTEMPTS_PER_CHALLENGE,
  MAX_FAILURES_PER_USER,
  MFA_TOKEN_PREFIX,
  type MfaService,
  type OneTimeCodeMessage,
  type SendOneTimeCode,
} from './mfa.service.ts';
export { mfaRoutes } from './mfa.routes.ts';
export { matchTotpStep, openTotpSecret, otpauthUri, sealTotpSecret, TOTP_PERIOD_SECONDS } from './totp.ts';
