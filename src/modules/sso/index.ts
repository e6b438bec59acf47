export { ssoConfigRoutes, ssoLoginRoutes } from './sso.routes.ts';
export { authenticationOf, CODE_PREFIX, createSsoService, mappedRole, type SsoService, STATE_PREFIX } from './sso.service.ts';
