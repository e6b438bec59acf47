export { impersonationRoutes } from './impersonation.routes.ts';
export {
  createImpersonationService,
  DEFAULT_IMPERSONATION_ROLE,
  IMPERSONATION_AUDIENCE,
  type ImpersonationService,
  MAX_IMPERSONATION_MINUTES,
} from './impersonation.service.ts';
