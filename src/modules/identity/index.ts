export { type AuthService, createAuthService, REFRESH_PREFIX } from './auth.service.ts';
export { authRoutes, meRoutes, userRoutes } from './identity.routes.ts';
export * from './passwords.ts';
export { createTokenService, OPERATOR_AUDIENCE, TENANT_AUDIENCE, type TokenService } from './tokens.ts';
export { createUserService, normalizeEmail, type UserService } from './users.service.ts';
// Sessions in depth and step-up (F-B2).
export type { ClientInfo, LoginChallenge, LoginPolicy, LoginResult, TokenPair } from './auth.service.ts';
export { deviceLabel, networkOf } from './device.ts';
export { LoginResponse, MfaChallenge } from './identity.schemas.ts';
export { listRecentClients, updateAuthTime } from './session-list.repo.ts';
export { sessionRoutes } from './sessions.routes.ts';
export { createSessionService, publishSessionsEnded, type SessionLifetime, type SessionService } from './sessions.service.ts';
export { ADMIN_SCOPES, createStepUp, hasAdminScope, type StepUp } from './step-up.ts';
export { revokeOtherSessions, revokeUserSessions } from './sessions.repo.ts';
export {
  findUserByEmail,
  findUserById,
  insertUser,
  lockUser,
  markEmailVerified,
  type UserRow,
  updatePasswordHash,
  updateUser,
} from './users.repo.ts';
export { toUserView } from './users.service.ts';
