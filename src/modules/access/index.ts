export * from './permissions.ts';
export * from './principal.ts';
export { findRole, insertBuiltinRoles, listRoles, type RoleRow } from './roles.repo.ts';
export { roleRoutes } from './roles.routes.ts';
export { createGuard, type GuardDeps } from './guard.ts';
