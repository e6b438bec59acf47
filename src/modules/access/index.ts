export * from './permissions.ts';
export * from './principal.ts';
export { findRole, insertBuiltinRoles, listRoles, type RoleRow } from './roles.repo.ts';
export { roleRoutes } from './roles.routes.ts';
export { createGuard, type GuardDeps } from './guard.ts';
export {
  authorize,
  type Condition,
  type ConditionalGrant,
  CONDITION_ATTRIBUTES,
  conditionMap,
  grantable,
  inheritConditions,
  matches,
  type Resource,
  validateConditions,
} from './conditions.ts';
export { type ConditionGuard, createConditionGuard, registerBuiltinLoaders, type ResourceLoader } from './condition-guard.ts';
export { createRoleService, type RoleService } from './roles.service.ts';
export { createRouteCatalogue, type RouteCatalogue } from './route-catalogue.ts';
