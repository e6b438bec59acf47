export { type AuthService, createAuthService, REFRESH_PREFIX } from './auth.service.ts';
export { authRoutes, meRoutes, userRoutes } from './identity.routes.ts';
export * from './passwords.ts';
export { createTokenService, OPERATOR_AUDIENCE, TENANT_AUDIENCE, type TokenService } from './tokens.ts';
export { createUserService, normalizeEmail, type UserService } from './users.service.ts';
