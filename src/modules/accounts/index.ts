/**
 * Accounts (F-B1): self-service signup, email verification, password reset and change, invitations.
 * Tokens are mailed through the mail module, single use, expiring, stored as SHA-256.
 */
export { accountAuthRoutes, accountRoutes } from './accounts.routes.ts';
export {
  type AccountService,
  createAccountService,
  INVITATION_PREFIX,
  INVITATION_TTL_MS,
  RESET_PREFIX,
  RESET_TTL_MS,
  VERIFY_PREFIX,
  VERIFY_TTL_MS,
} from './accounts.service.ts';
