export { insertSecurityEvent, type NewSecurityEvent } from './security-events.repo.ts';
export { securityEventRoutes } from './security-events.routes.ts';
