import { Type, type Static } from 'typebox';
import { isPermission, type Permission } from './permissions.ts';
import type { TenantPrincipal } from './principal.ts';

/**
 * Attribute conditions on a permission: a small, closed language, evaluated by one function for
 * users and API keys alike.
 *
 *   { "attribute": "createdById", "equals": "$caller.id" }
 *   { "attribute": "role", "in": ["member", "viewer"] }
 *
 * A value is a constant (string, number, boolean, null) or a reference to the caller:
 * `$caller.id` (the user id, or the API key id), `$caller.userId`, `$caller.apiKeyId`,
 * `$caller.roleKey`. A reference the caller does not have (`$caller.userId` for an API key) matches
 * nothing. Several conditions on the same permission are alternatives (any one suffices).
 */
export const ConditionValue = Type.Union([Type.String({ maxLength: 200 }), Type.Number(), Type.Boolean(), Type.Null()]);
export type ConditionValue = Static<typeof ConditionValue>;

export const Condition = Type.Union([
  Type.Object(
    {
      attribute: Type.String({ minLength: 1, maxLength: 64, description: 'A resource attribute (see GET /v1/permissions)' }),
      equals: ConditionValue,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      attribute: Type.String({ minLength: 1, maxLength: 64 }),
      in: Type.Array(ConditionValue, { minItems: 1, maxItems: 50 }),
    },
    { additionalProperties: false },
  ),
]);
export type Condition = { attribute: string; equals: ConditionValue } | { attribute: string; in: ConditionValue[] };

export const ConditionalGrant = Type.Object(
  {
    permission: Type.String({ maxLength: 100, description: 'A permission the role also lists in `permissions`' }),
    condition: Condition,
  },
  { additionalProperties: false },
);
export type ConditionalGrant = { permission: string; condition: Condition };

/** The attributes each conditional permission exposes; a permission not listed takes no condition. */
export const CONDITION_ATTRIBUTES: Partial<Record<Permission, Record<string, string>>> = {
  'users.write': {
    id: 'The id of the user acted on',
    role: 'The role of the user acted on (and, when the role changes, the new role too)',
  },
  'api_keys.write': {
    id: 'The id of the API key acted on',
    createdById: 'Who created the key: a user id or an API key id',
    createdByType: "How the key was created: 'user', 'api_key', 'operator' or 'system'",
  },
};

const CALLER_REFS = ['$caller.id', '$caller.userId', '$caller.apiKeyId', '$caller.roleKey'] as const;

export type Resource = Record<string, string | number | boolean | null | undefined>;

export type ConditionProblem = { path: string; message: string };

/** Checks conditional grants against the catalogue and the role's own permissions; the problems name the part. */
export function validateConditions(grants: readonly ConditionalGrant[], permissions: readonly string[], path: string): ConditionProblem[] {
  const problems: ConditionProblem[] = [];
  grants.forEach((grant, i) => {
    const at = `${path}/${i}`;
    if (!isPermission(grant.permission)) {
      problems.push({ path: `${at}/permission`, message: `unknown permission "${grant.permission}"` });
      return;
    }
    if (!permissions.includes(grant.permission)) {
      problems.push({ path: `${at}/permission`, message: `"${grant.permission}" is not among the role's permissions` });
    }
    const attributes = CONDITION_ATTRIBUTES[grant.permission];
    if (!attributes) {
      problems.push({ path: `${at}/permission`, message: `"${grant.permission}" does not take conditions` });
      return;
    }
    if (!Object.hasOwn(attributes, grant.condition.attribute)) {
      problems.push({
        path: `${at}/condition/attribute`,
        message: `unknown attribute "${grant.condition.attribute}"; one of ${Object.keys(attributes).join(', ')}`,
      });
    }
    const values = 'in' in grant.condition ? grant.condition.in : [grant.condition.equals];
    const valuePath = 'in' in grant.condition ? `${at}/condition/in` : `${at}/condition/equals`;
    values.forEach((value, j) => {
      if (typeof value === 'string' && value.startsWith('$') && !(CALLER_REFS as readonly string[]).includes(value)) {
        const where = 'in' in grant.condition ? `${valuePath}/${j}` : valuePath;
        problems.push({ path: where, message: `unknown reference "${value}"; one of ${CALLER_REFS.join(', ')}` });
      }
    });
  });
  return problems;
}

function callerValue(ref: string, principal: TenantPrincipal): ConditionValue | undefined {
  switch (ref) {
    case '$caller.id':
      return principal.kind === 'user' ? principal.userId : principal.apiKeyId;
    case '$caller.userId':
      return principal.kind === 'user' ? principal.userId : undefined;
    case '$caller.apiKeyId':
      return principal.kind === 'api_key' ? principal.apiKeyId : undefined;
    case '$caller.roleKey':
      return principal.kind === 'user' ? principal.roleKey : undefined;
    default:
      return undefined;
  }
}

function resolve(value: ConditionValue, principal: TenantPrincipal): ConditionValue | undefined {
  return typeof value === 'string' && value.startsWith('$caller.') ? callerValue(value, principal) : value;
}

export function matches(condition: Condition, principal: TenantPrincipal, resource: Resource): boolean {
  const actual = resource[condition.attribute];
  if (actual === undefined) return false;
  const wanted = 'in' in condition ? condition.in : [condition.equals];
  return wanted.some((value) => {
    const resolved = resolve(value, principal);
    return resolved !== undefined && resolved === actual;
  });
}

/**
 * The one decision for users and API keys: does the principal hold `permission` on this resource?
 * An unconditional grant holds everywhere; a conditional one where any of its conditions matches.
 */
export function authorize(principal: TenantPrincipal, permission: Permission, resource: Resource): boolean {
  if (!principal.permissions.has(permission)) return false;
  const conditions = principal.conditions?.get(permission);
  if (!conditions || conditions.length === 0) return true;
  return conditions.some((condition) => matches(condition, principal, resource));
}

/** Groups stored grants by permission (the principal's `conditions`); undefined when there are none. */
export function conditionMap(
  grants: readonly ConditionalGrant[] | null | undefined,
): ReadonlyMap<string, readonly Condition[]> | undefined {
  if (!grants || grants.length === 0) return undefined;
  const map = new Map<string, Condition[]>();
  for (const grant of grants) map.set(grant.permission, [...(map.get(grant.permission) ?? []), grant.condition]);
  return map;
}

/**
 * What a principal can hand on to a role or an unconditional key: its permissions without the
 * conditional ones (a conditional grant given on unconditionally would escape its condition).
 */
export function grantable(principal: TenantPrincipal): ReadonlySet<string> {
  if (!principal.conditions || principal.conditions.size === 0) return principal.permissions;
  return new Set([...principal.permissions].filter((p) => !principal.conditions?.has(p)));
}

/**
 * The conditions an API key inherits from its maker for the scopes it gets: the maker's conditional
 * grants, with every `$caller` reference replaced by the maker's own value (the key acts within its
 * maker's bounds). A reference the maker lacks becomes a value nothing has, so it matches nothing.
 */
export function inheritConditions(maker: TenantPrincipal, scopes: readonly string[]): ConditionalGrant[] {
  const inherited: ConditionalGrant[] = [];
  for (const scope of scopes) {
    for (const condition of maker.conditions?.get(scope) ?? []) {
      const bind = (value: ConditionValue) =>
        typeof value === 'string' && value.startsWith('$caller.') ? (callerValue(value, maker) ?? '$unbound') : value;
      const bound: Condition =
        'in' in condition
          ? { attribute: condition.attribute, in: condition.in.map(bind) }
          : { attribute: condition.attribute, equals: bind(condition.equals) };
      inherited.push({ permission: scope, condition: bound });
    }
  }
  return inherited;
}
