/**
 * The permission catalogue. Every tenant route declares one of these (or `authenticated`); roles
 * and API-key scopes are sets of them; one function decides for users and API keys alike.
 */
export const PERMISSIONS = {
  'tenant.read': 'Read the tenant profile and its limits',
  'users.read': 'List and read users',
  'users.write': 'Create users, change their name or role, deactivate and reactivate them',
  'roles.read': 'List roles and their permissions',
  'api_keys.read': 'List and read API keys (never their secrets)',
  'api_keys.write': 'Create, rotate and revoke API keys',
  'security_events.read': 'Read the security events of the tenant',
  'usage.read': 'Read usage, quotas, time series and quota alerts',
  'settings.write': 'Change tenant settings such as per-user and per-key rate limits',
  'config.read': 'Read the configuration: the tenant level, its history and the effective values with their source',
  'config.write': 'Change the tenant level of the configuration and roll it back',
  'branding.write': 'Change the tenant name, logo, colours and font',
  'domains.write': 'Add, verify and remove custom domains',
  'experiments.read': 'Read experiments and their results; get the variant assigned to a subject',
  'experiments.write': 'Create, change, start, stop and delete experiments; record exposure and conversion events',
  'audit.read': 'Read, verify and export the audit log',
  'assistant.use': 'Chat with the assistant; read and delete your own conversations and memories',
  'assistant.manage': 'Configure the AI provider, the intents and the domain vocabulary of the assistant',
  'sso.read': 'Read the single sign-on (OpenID Connect) configuration, never its client secret',
  'sso.write': 'Configure, enforce and remove single sign-on (OpenID Connect)',
  'roles.write': 'Create, change and delete custom roles (only with permissions the caller holds)',
  'knowledge.read': 'List knowledge bases and documents, and search them',
  'knowledge.write': 'Create, change and delete knowledge bases; upload, re-index and delete documents',
} as const;

export type Permission = keyof typeof PERMISSIONS;

export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];

export function isPermission(value: string): value is Permission {
  return Object.hasOwn(PERMISSIONS, value);
}

export type BuiltinRole = { key: string; name: string; description: string; permissions: Permission[] };

export const BUILTIN_ROLES: BuiltinRole[] = [
  { key: 'owner', name: 'Owner', description: 'Full control, including other owners', permissions: ALL_PERMISSIONS },
  { key: 'admin', name: 'Administrator', description: 'Manages users, keys and settings', permissions: ALL_PERMISSIONS },
  {
    key: 'manager',
    name: 'Manager',
    description: 'Reads the team, keys and security events',
    permissions: [
      'tenant.read',
      'users.read',
      'roles.read',
      'api_keys.read',
      'security_events.read',
      'usage.read',
      'experiments.read',
      'config.read',
      'assistant.use',
      'knowledge.read',
      'knowledge.write',
    ],
  },
  {
    key: 'member',
    name: 'Member',
    description: 'Works in the tenant',
    permissions: ['tenant.read', 'users.read', 'roles.read', 'assistant.use', 'knowledge.read'],
  },
  { key: 'viewer', name: 'Viewer', description: 'Reads only', permissions: ['tenant.read', 'roles.read'] },
];

/** Only an owner may grant or take away the owner role (not expressible as a permission subset). */
export const OWNER_ROLE = 'owner';

export function hasPermission(granted: ReadonlySet<string>, needed: Permission): boolean {
  return granted.has(needed);
}

export function isSubset(wanted: readonly string[], granted: ReadonlySet<string>): string[] {
  return wanted.filter((permission) => !granted.has(permission));
}

const BUILTIN_BY_KEY = new Map(BUILTIN_ROLES.map((role) => [role.key, role]));

/**
 * Built-in roles take their permissions from this file, not from the row provisioned with the
 * tenant, so that a permission added by an upgrade reaches every existing tenant's owners.
 */
export function roleGrants(role: { key: string; builtin: boolean; permissions: string[] }): string[] {
  if (role.builtin) return BUILTIN_BY_KEY.get(role.key)?.permissions ?? [];
  return role.permissions;
}
