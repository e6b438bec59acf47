/**
 * T08: the authorisation matrix as data. For every tenant route of the inventory, the expected
 * status for each built-in role and for an API key holding exactly the route's permission versus
 * one holding every other permission. Then the owner rules (only owners make or change owners, a
 * tenant keeps an active owner, nobody deactivates themselves) and immediate effect of demotion and
 * deactivation on existing tokens.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_PERMISSIONS, type Permission } from '../../src/modules/access/permissions.ts';
import { createTestContext, PASSWORD, type TestContext, type TestTenant, testConfig, uniqueSlug } from '../helpers/harness.ts';
import { discoverRoutes, expectProblem, keyOf, type Route } from './support.ts';
import { makePng, multipart } from '../branding/support.ts';

const ROLES = ['owner', 'admin', 'manager', 'member', 'viewer'] as const;
type Role = (typeof ROLES)[number];
type Column = Role | 'keyWith' | 'keyWithout';
const COLUMNS: Column[] = [...ROLES, 'keyWith', 'keyWithout'];

/** An expected outcome: a success status, or a 403 with its problem code. */
type Outcome = number | 'forbidden' | 'scope_exceeds_permissions';

type Row = {
  permission: Permission | 'authenticated';
  /** Builds one request; called once per cell so every write acts on a fresh resource. */
  request(): Promise<{ url: string; payload?: object; headers?: Record<string, string> }>;
  /** The route ends the caller's session: use a throwaway login. */
  endsSession?: boolean;
} & Record<Column, Outcome>;

let ctx: TestContext;
let tenant: TestTenant;
let inventory: Route[];

const OK = 200;
const F = 'forbidden' as const;

async function newUser(role = 'member'): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/users',
    headers: tenant.auth,
    payload: { email: `${role}-${uniqueSlug()}@${tenant.slug}.test`, name: 'Target', role, password: PASSWORD },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().id;
}

async function newDeactivatedUser(): Promise<string> {
  const id = await newUser();
  const res = await ctx.app.inject({ method: 'POST', url: `/v1/users/${id}/deactivate`, headers: tenant.auth });
  if (res.statusCode !== 200) throw new Error(res.body);
  return id;
}

/** A pending invitation made by the owner. */
async function newInvitation(): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/invitations',
    headers: tenant.auth,
    payload: { email: `revocable-${uniqueSlug()}@${tenant.slug}.test`, role: 'member' },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().id;
}

async function newKey(): Promise<string> {
  return (await ctx.apiKey(tenant, ['api_keys.write'])).id;
}

let sharedUser: string;
let sharedKey: string;

const TWO_VARIANTS = [
  { key: 'control', weight: 50 },
  { key: 'treatment', weight: 50 },
];

/** A fresh experiment made by the owner; running when assignments or events are called on it. */
async function newExperiment(running = false): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/experiments',
    headers: tenant.auth,
    payload: { key: uniqueSlug('exp'), variants: TWO_VARIANTS },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  const id = res.json().id as string;
  if (running) {
    const start = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/experiments/${id}`,
      headers: tenant.auth,
      payload: { status: 'running' },
    });
    if (start.statusCode !== 200) throw new Error(start.body);
  }
  return id;
}

async function newDomain(): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/domains',
    headers: tenant.auth,
    payload: { hostname: `${uniqueSlug('rbac')}.example.com` },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().id;
}

const LOGO_UPLOAD = multipart(makePng(), { filename: 'logo.png', contentType: 'image/png' });

/** Makes sure the tenant has a logo to read. */
async function ensureLogo(): Promise<void> {
  const res = await ctx.app.inject({
    method: 'PUT',
    url: '/v1/branding/logo',
    headers: { ...tenant.auth, ...LOGO_UPLOAD.headers },
    payload: LOGO_UPLOAD.payload,
  });
  if (res.statusCode !== 200) throw new Error(res.body);
}

const EXPERIMENTS_READ = { owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F } as const;
const EXPERIMENTS_WRITE = { owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F } as const;
const TENANT_READ = { owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: F } as const;
const OWNER_ADMIN = (status: number) => ({
  owner: status,
  admin: status,
  manager: F,
  member: F,
  viewer: F,
  keyWith: status,
  keyWithout: F,
});

/** Makes sure the tenant's configuration has a version 1 (read by GET /v1/config/versions/:version). */
async function ensureConfigVersion(): Promise<void> {
  const res = await ctx.app.inject({
    method: 'PATCH',
    url: '/v1/config',
    headers: { ...tenant.auth, 'if-match': '*' },
    payload: { assistant: { tone: 'formal' } },
  });
  if (res.statusCode !== 200) throw new Error(res.body);
}

/**
 * The matrix. Field-level rules show in a few cells: a key holding only `users.write` cannot give a
 * role (every role holds permissions the key lacks), so creating or reactivating a member is refused.
 */
const MATRIX: Record<string, Row> = {
  'GET /v1/me': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: OK },
  },
  'GET /v1/permissions': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/permissions' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: OK },
  },
  'POST /v1/auth/logout': {
    permission: 'authenticated',
    endsSession: true,
    request: async () => ({ url: '/v1/auth/logout' }),
    ...{ owner: 204, admin: 204, manager: 204, member: 204, viewer: 204, keyWith: 204, keyWithout: 204 },
  },
  'GET /v1/tenant': {
    permission: 'tenant.read',
    request: async () => ({ url: '/v1/tenant' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: F },
  },
  'GET /v1/roles': {
    permission: 'roles.read',
    request: async () => ({ url: '/v1/roles' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: F },
  },
  'GET /v1/users': {
    permission: 'users.read',
    request: async () => ({ url: '/v1/users' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/users/:id': {
    permission: 'users.read',
    request: async () => ({ url: `/v1/users/${sharedUser}` }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: F, keyWith: OK, keyWithout: F },
  },
  'POST /v1/users': {
    permission: 'users.write',
    request: async () => ({
      url: '/v1/users',
      payload: { email: `new-${uniqueSlug()}@${tenant.slug}.test`, name: 'New', role: 'viewer', password: PASSWORD },
    }),
    ...{ owner: 201, admin: 201, manager: F, member: F, viewer: F, keyWith: F, keyWithout: F },
  },
  'PATCH /v1/users/:id': {
    permission: 'users.write',
    request: async () => ({ url: `/v1/users/${sharedUser}`, payload: { name: `Renamed ${uniqueSlug()}` } }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'POST /v1/users/:id/deactivate': {
    permission: 'users.write',
    request: async () => ({ url: `/v1/users/${await newUser()}/deactivate` }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'POST /v1/users/:id/reactivate': {
    permission: 'users.write',
    request: async () => ({ url: `/v1/users/${await newDeactivatedUser()}/reactivate` }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: F, keyWithout: F },
  },
  'GET /v1/api-keys': {
    permission: 'api_keys.read',
    request: async () => ({ url: '/v1/api-keys' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/api-keys/:id': {
    permission: 'api_keys.read',
    request: async () => ({ url: `/v1/api-keys/${sharedKey}` }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'POST /v1/api-keys': {
    permission: 'api_keys.write',
    request: async () => ({ url: '/v1/api-keys', payload: { name: 'matrix', scopes: ['api_keys.write'] } }),
    ...{ owner: 201, admin: 201, manager: F, member: F, viewer: F, keyWith: 201, keyWithout: F },
  },
  'DELETE /v1/api-keys/:id': {
    permission: 'api_keys.write',
    request: async () => ({ url: `/v1/api-keys/${await newKey()}` }),
    ...{ owner: 204, admin: 204, manager: F, member: F, viewer: F, keyWith: 204, keyWithout: F },
  },
  'POST /v1/api-keys/:id/rotate': {
    permission: 'api_keys.write',
    request: async () => ({ url: `/v1/api-keys/${await newKey()}/rotate`, payload: { overlapSeconds: 0 } }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/security-events': {
    permission: 'security_events.read',
    request: async () => ({ url: '/v1/security-events' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/audit-log': {
    permission: 'audit.read',
    request: async () => ({ url: '/v1/audit-log' }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/audit-log/verify': {
    permission: 'audit.read',
    request: async () => ({ url: '/v1/audit-log/verify' }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/audit-log/export': {
    permission: 'audit.read',
    request: async () => ({ url: '/v1/audit-log/export' }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/usage': {
    permission: 'usage.read',
    request: async () => ({ url: '/v1/usage' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/usage/timeseries': {
    permission: 'usage.read',
    request: async () => ({
      url: `/v1/usage/timeseries?metric=api_calls&from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date().toISOString()}`,
    }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/usage/alerts': {
    permission: 'usage.read',
    request: async () => ({ url: '/v1/usage/alerts' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/tenant/rate-limits': {
    permission: 'tenant.read',
    request: async () => ({ url: '/v1/tenant/rate-limits' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: F },
  },
  'PUT /v1/tenant/rate-limits': {
    permission: 'settings.write',
    request: async () => ({ url: '/v1/tenant/rate-limits', payload: { perUserPerMinute: null, perApiKeyPerMinute: null } }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/config/effective': {
    permission: 'config.read',
    request: async () => ({ url: '/v1/config/effective' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/config': {
    permission: 'config.read',
    request: async () => ({ url: '/v1/config' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'PATCH /v1/config': {
    permission: 'config.write',
    request: async () => ({ url: '/v1/config', headers: { 'if-match': '*' }, payload: { retrieval: { topK: 5 } } }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/config/versions': {
    permission: 'config.read',
    request: async () => ({ url: '/v1/config/versions' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/config/versions/:version': {
    permission: 'config.read',
    request: async () => {
      await ensureConfigVersion();
      return { url: '/v1/config/versions/1' };
    },
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/config/diff': {
    permission: 'config.read',
    request: async () => ({ url: '/v1/config/diff?from=0&to=0' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'POST /v1/config/rollback': {
    permission: 'config.write',
    request: async () => ({ url: '/v1/config/rollback', headers: { 'if-match': '*' }, payload: { version: 0 } }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
};

// Branding, custom domains, experiments and localization (issue 5).
Object.assign(MATRIX, {
  'GET /v1/experiments': { permission: 'experiments.read', request: async () => ({ url: '/v1/experiments' }), ...EXPERIMENTS_READ },
  'POST /v1/experiments': {
    permission: 'experiments.write',
    request: async () => ({ url: '/v1/experiments', payload: { key: uniqueSlug('exp'), variants: TWO_VARIANTS } }),
    ...OWNER_ADMIN(201),
  },
  'GET /v1/experiments/:id': {
    permission: 'experiments.read',
    request: async () => ({ url: `/v1/experiments/${await newExperiment()}` }),
    ...EXPERIMENTS_READ,
  },
  'PATCH /v1/experiments/:id': {
    permission: 'experiments.write',
    request: async () => ({ url: `/v1/experiments/${await newExperiment()}`, payload: { description: 'changed' } }),
    ...EXPERIMENTS_WRITE,
  },
  'DELETE /v1/experiments/:id': {
    permission: 'experiments.write',
    request: async () => ({ url: `/v1/experiments/${await newExperiment()}` }),
    ...OWNER_ADMIN(204),
  },
  'POST /v1/experiments/:id/assignments': {
    permission: 'experiments.read',
    request: async () => ({ url: `/v1/experiments/${await newExperiment(true)}/assignments`, payload: { subjectId: 'matrix' } }),
    ...EXPERIMENTS_READ,
  },
  'POST /v1/experiments/:id/events': {
    permission: 'experiments.write',
    request: async () => ({
      url: `/v1/experiments/${await newExperiment(true)}/events`,
      payload: { type: 'exposure', subjectId: 'matrix' },
    }),
    ...EXPERIMENTS_WRITE,
  },
  'GET /v1/experiments/:id/results': {
    permission: 'experiments.read',
    request: async () => ({ url: `/v1/experiments/${await newExperiment()}/results` }),
    ...EXPERIMENTS_READ,
  },
  'GET /v1/domains': { permission: 'tenant.read', request: async () => ({ url: '/v1/domains' }), ...TENANT_READ },
  'POST /v1/domains': {
    permission: 'domains.write',
    request: async () => ({ url: '/v1/domains', payload: { hostname: `${uniqueSlug('rbac')}.example.com` } }),
    ...OWNER_ADMIN(201),
  },
  'GET /v1/domains/:id': { permission: 'tenant.read', request: async () => ({ url: `/v1/domains/${await newDomain()}` }), ...TENANT_READ },
  'POST /v1/domains/:id/verify': {
    permission: 'domains.write',
    request: async () => ({ url: `/v1/domains/${await newDomain()}/verify` }),
    ...OWNER_ADMIN(OK),
  },
  'DELETE /v1/domains/:id': {
    permission: 'domains.write',
    request: async () => ({ url: `/v1/domains/${await newDomain()}` }),
    ...OWNER_ADMIN(204),
  },
  'GET /v1/branding': { permission: 'tenant.read', request: async () => ({ url: '/v1/branding' }), ...TENANT_READ },
  'PUT /v1/branding': {
    permission: 'branding.write',
    request: async () => ({
      url: '/v1/branding',
      payload: { colors: { primary: '#1F4E79', background: '#FFFFFF', text: '#1A1A1A' }, fontFamily: null },
    }),
    ...OWNER_ADMIN(OK),
  },
  'PUT /v1/branding/logo': {
    permission: 'branding.write',
    request: async () => ({ url: '/v1/branding/logo', headers: LOGO_UPLOAD.headers, payload: LOGO_UPLOAD.payload }),
    ...OWNER_ADMIN(OK),
  },
  'GET /v1/branding/logo': {
    permission: 'tenant.read',
    request: async () => {
      await ensureLogo();
      return { url: '/v1/branding/logo' };
    },
    ...TENANT_READ,
  },
  'DELETE /v1/branding/logo': { permission: 'branding.write', request: async () => ({ url: '/v1/branding/logo' }), ...OWNER_ADMIN(204) },
  'GET /v1/localization': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/localization' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: OK },
  },
  // Personal preferences belong to users: an API key is refused whatever its scopes.
  'PATCH /v1/me': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me', payload: { locale: 'en' } }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: F, keyWithout: F },
  },
  'PUT /v1/tenant/localization': {
    permission: 'settings.write',
    request: async () => ({ url: '/v1/tenant/localization', payload: { locale: 'en', timezone: 'UTC' } }),
    ...OWNER_ADMIN(OK),
  },
  // Sessions and second factors belong to users: an API key is refused whatever its scopes (an id
  // of "its" session is one it does not have: 404). Rows run in this order: the re-authentication
  // keeps the step-up rows after it fresh, the enrolment leaves a pending factor for the next rows.
  'GET /v1/me/sessions': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me/sessions' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: F, keyWithout: F },
  },
  'DELETE /v1/me/sessions/:id': {
    permission: 'authenticated',
    request: async () => ({ url: `/v1/me/sessions/${randomUUID()}` }),
    ...{ owner: 404, admin: 404, manager: 404, member: 404, viewer: 404, keyWith: 404, keyWithout: 404 },
  },
  'POST /v1/me/sessions/revoke-others': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me/sessions/revoke-others' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: F, keyWithout: F },
  },
  'GET /v1/users/:id/sessions': {
    permission: 'users.read',
    request: async () => ({ url: `/v1/users/${sharedUser}/sessions` }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: F, keyWith: OK, keyWithout: F },
  },
  'POST /v1/users/:id/sessions/revoke': {
    permission: 'users.write',
    request: async () => ({ url: `/v1/users/${await newUser()}/sessions/revoke` }),
    ...OWNER_ADMIN(OK),
  },
  'POST /v1/auth/reauthenticate': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/auth/reauthenticate', payload: { password: PASSWORD } }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: F, keyWithout: F },
  },
  'GET /v1/me/mfa': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me/mfa' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: F, keyWithout: F },
  },
  'POST /v1/me/mfa/totp': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me/mfa/totp' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: F, keyWithout: F },
  },
  // A wrong code for the pending factor: the route is reached (401 invalid_mfa_code), keys are refused.
  'POST /v1/me/mfa/totp/confirm': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me/mfa/totp/confirm', payload: { code: 'not-a-code' } }),
    ...{ owner: 401, admin: 401, manager: 401, member: 401, viewer: 401, keyWith: F, keyWithout: F },
  },
  // Without an active factor there are no recovery codes to renew (409).
  'POST /v1/me/mfa/recovery-codes': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me/mfa/recovery-codes' }),
    ...{ owner: 409, admin: 409, manager: 409, member: 409, viewer: 409, keyWith: F, keyWithout: F },
  },
  // Removes the pending factor left by the enrolment row.
  'DELETE /v1/me/mfa/totp': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me/mfa/totp' }),
    ...{ owner: 204, admin: 204, manager: 204, member: 204, viewer: 204, keyWith: F, keyWithout: F },
  },
  'DELETE /v1/users/:id/mfa': {
    permission: 'users.write',
    request: async () => ({ url: `/v1/users/${await newUser()}/mfa` }),
    ...OWNER_ADMIN(204),
  },
} satisfies Record<string, Row>);

// The assistant and its AI provider (issue 6).
const ASSISTANT_USE = { owner: OK, admin: OK, manager: OK, member: OK, viewer: F, keyWith: OK, keyWithout: F } as const;
/** A resource of the owner's own: other callers allowed the route get 404 (conversations and memories are per user). */
const OWNERS_ONLY = (status: number) => ({ owner: status, admin: 404, manager: 404, member: 404, viewer: F, keyWith: 404, keyWithout: F });

async function ownerChat(message: string): Promise<{ conversationId: string; memorySaved: { id: string } }> {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/assistant/chat', headers: tenant.auth, payload: { message } });
  if (res.statusCode !== 200) throw new Error(res.body);
  const done = res.body.split('\n\n').find((block) => block.startsWith('event: done'));
  return JSON.parse((done as string).split('\ndata: ')[1] as string);
}
const newConversation = async () => (await ownerChat('What is the refund policy?')).conversationId;
const newMemory = async () => (await ownerChat(`Remember that the code word is ${uniqueSlug()}`)).memorySaved.id;

async function newIntent(): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/assistant/intents',
    headers: tenant.auth,
    payload: { name: `i_${uniqueSlug().replaceAll('-', '_')}`, examples: ['book a villa'] },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().id;
}

// Knowledge search (issue 6, F-E2): knowledge.read, which viewers do not hold.
Object.assign(MATRIX, {
  'POST /v1/search': {
    permission: 'knowledge.read',
    request: async () => ({ url: '/v1/search', payload: { query: 'refund policy' } }),
    ...ASSISTANT_USE,
  },
} satisfies Record<string, Row>);

Object.assign(MATRIX, {
  'POST /v1/assistant/chat': {
    permission: 'assistant.use',
    request: async () => ({ url: '/v1/assistant/chat', payload: { message: 'hello' } }),
    ...ASSISTANT_USE,
  },
  'GET /v1/assistant/conversations': {
    permission: 'assistant.use',
    request: async () => ({ url: '/v1/assistant/conversations' }),
    ...ASSISTANT_USE,
  },
  'GET /v1/assistant/conversations/:id': {
    permission: 'assistant.use',
    request: async () => ({ url: `/v1/assistant/conversations/${await newConversation()}` }),
    ...OWNERS_ONLY(OK),
  },
  'GET /v1/assistant/conversations/:id/messages': {
    permission: 'assistant.use',
    request: async () => ({ url: `/v1/assistant/conversations/${await newConversation()}/messages` }),
    ...OWNERS_ONLY(OK),
  },
  'DELETE /v1/assistant/conversations/:id': {
    permission: 'assistant.use',
    request: async () => ({ url: `/v1/assistant/conversations/${await newConversation()}` }),
    ...OWNERS_ONLY(204),
  },
  'GET /v1/assistant/memories': {
    permission: 'assistant.use',
    request: async () => ({ url: '/v1/assistant/memories' }),
    ...ASSISTANT_USE,
  },
  'DELETE /v1/assistant/memories/:id': {
    permission: 'assistant.use',
    request: async () => ({ url: `/v1/assistant/memories/${await newMemory()}` }),
    ...OWNERS_ONLY(204),
  },
  'GET /v1/ai/provider': { permission: 'assistant.manage', request: async () => ({ url: '/v1/ai/provider' }), ...OWNER_ADMIN(OK) },
  'PUT /v1/ai/provider': {
    permission: 'assistant.manage',
    request: async () => ({ url: '/v1/ai/provider', payload: { kind: 'openai', chatModel: 'gpt-4o-mini', apiKey: 'sk-matrix' } }),
    ...OWNER_ADMIN(OK),
  },
  'DELETE /v1/ai/provider': { permission: 'assistant.manage', request: async () => ({ url: '/v1/ai/provider' }), ...OWNER_ADMIN(204) },
  'GET /v1/assistant/intents': {
    permission: 'assistant.manage',
    request: async () => ({ url: '/v1/assistant/intents' }),
    ...OWNER_ADMIN(OK),
  },
  'POST /v1/assistant/intents': {
    permission: 'assistant.manage',
    request: async () => ({
      url: '/v1/assistant/intents',
      payload: { name: `i_${uniqueSlug().replaceAll('-', '_')}`, examples: ['book a villa'] },
    }),
    ...OWNER_ADMIN(201),
  },
  'GET /v1/assistant/intents/:id': {
    permission: 'assistant.manage',
    request: async () => ({ url: `/v1/assistant/intents/${await newIntent()}` }),
    ...OWNER_ADMIN(OK),
  },
  'PATCH /v1/assistant/intents/:id': {
    permission: 'assistant.manage',
    request: async () => ({ url: `/v1/assistant/intents/${await newIntent()}`, payload: { threshold: 0.7 } }),
    ...OWNER_ADMIN(OK),
  },
  'DELETE /v1/assistant/intents/:id': {
    permission: 'assistant.manage',
    request: async () => ({ url: `/v1/assistant/intents/${await newIntent()}` }),
    ...OWNER_ADMIN(204),
  },
  'POST /v1/assistant/intents/test': {
    permission: 'assistant.manage',
    request: async () => ({ url: '/v1/assistant/intents/test', payload: { text: 'hello' } }),
    ...OWNER_ADMIN(OK),
  },
  'GET /v1/assistant/vocabulary': {
    permission: 'assistant.manage',
    request: async () => ({ url: '/v1/assistant/vocabulary' }),
    ...OWNER_ADMIN(OK),
  },
  'PUT /v1/assistant/vocabulary': {
    permission: 'assistant.manage',
    request: async () => ({ url: '/v1/assistant/vocabulary', payload: { entries: [{ term: 'refund', synonyms: ['money back'] }] } }),
    ...OWNER_ADMIN(OK),
  },
} satisfies Record<string, Row>);

// Knowledge bases and documents (issue 6, F-E1): members read, managers and up write.
const KNOWLEDGE_READ = { owner: OK, admin: OK, manager: OK, member: OK, viewer: F, keyWith: OK, keyWithout: F } as const;
const KNOWLEDGE_WRITE = (status: number) => ({
  owner: status,
  admin: status,
  manager: status,
  member: F,
  viewer: F,
  keyWith: status,
  keyWithout: F,
});
const KNOWLEDGE_UPLOAD = () => multipart(Buffer.from('Matrix document text.'), { filename: 'matrix.txt', contentType: 'text/plain' });

async function newKnowledgeBase(): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/knowledge-bases',
    headers: tenant.auth,
    payload: { name: uniqueSlug('kb') },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().id;
}

let sharedBase: string | undefined;
const knowledgeBase = async () => {
  sharedBase ??= await newKnowledgeBase();
  return sharedBase;
};

/** A document of the shared base, uploaded by the owner (not ingested: the matrix runs no jobs). */
async function newDocument(): Promise<string> {
  const upload = KNOWLEDGE_UPLOAD();
  const res = await ctx.app.inject({
    method: 'POST',
    url: `/v1/knowledge-bases/${await knowledgeBase()}/documents`,
    headers: { ...tenant.auth, ...upload.headers },
    payload: upload.payload,
  });
  if (res.statusCode !== 202) throw new Error(res.body);
  return res.json().id;
}

let sharedDocument: string | undefined;
const knowledgeDocument = async () => {
  sharedDocument ??= await newDocument();
  return sharedDocument;
};

Object.assign(MATRIX, {
  'GET /v1/knowledge-bases': { permission: 'knowledge.read', request: async () => ({ url: '/v1/knowledge-bases' }), ...KNOWLEDGE_READ },
  'POST /v1/knowledge-bases': {
    permission: 'knowledge.write',
    request: async () => ({ url: '/v1/knowledge-bases', payload: { name: uniqueSlug('kb') } }),
    ...KNOWLEDGE_WRITE(201),
  },
  'GET /v1/knowledge-bases/:id': {
    permission: 'knowledge.read',
    request: async () => ({ url: `/v1/knowledge-bases/${await knowledgeBase()}` }),
    ...KNOWLEDGE_READ,
  },
  'PATCH /v1/knowledge-bases/:id': {
    permission: 'knowledge.write',
    request: async () => ({ url: `/v1/knowledge-bases/${await knowledgeBase()}`, payload: { description: uniqueSlug('d') } }),
    ...KNOWLEDGE_WRITE(OK),
  },
  'DELETE /v1/knowledge-bases/:id': {
    permission: 'knowledge.write',
    request: async () => ({ url: `/v1/knowledge-bases/${await newKnowledgeBase()}` }),
    ...KNOWLEDGE_WRITE(204),
  },
  'POST /v1/knowledge-bases/:id/reindex': {
    permission: 'knowledge.write',
    request: async () => ({ url: `/v1/knowledge-bases/${await knowledgeBase()}/reindex` }),
    ...KNOWLEDGE_WRITE(202),
  },
  'GET /v1/knowledge-bases/:id/documents': {
    permission: 'knowledge.read',
    request: async () => ({ url: `/v1/knowledge-bases/${await knowledgeBase()}/documents` }),
    ...KNOWLEDGE_READ,
  },
  'POST /v1/knowledge-bases/:id/documents': {
    permission: 'knowledge.write',
    request: async () => {
      const upload = KNOWLEDGE_UPLOAD();
      return { url: `/v1/knowledge-bases/${await knowledgeBase()}/documents`, headers: upload.headers, payload: upload.payload };
    },
    ...KNOWLEDGE_WRITE(202),
  },
  'GET /v1/knowledge-bases/:id/documents/:documentId': {
    permission: 'knowledge.read',
    request: async () => ({ url: `/v1/knowledge-bases/${await knowledgeBase()}/documents/${await knowledgeDocument()}` }),
    ...KNOWLEDGE_READ,
  },
  'DELETE /v1/knowledge-bases/:id/documents/:documentId': {
    permission: 'knowledge.write',
    request: async () => ({ url: `/v1/knowledge-bases/${await knowledgeBase()}/documents/${await newDocument()}` }),
    ...KNOWLEDGE_WRITE(204),
  },
  'POST /v1/knowledge-bases/:id/documents/:documentId/reindex': {
    permission: 'knowledge.write',
    request: async () => ({ url: `/v1/knowledge-bases/${await knowledgeBase()}/documents/${await knowledgeDocument()}/reindex` }),
    ...KNOWLEDGE_WRITE(202),
  },
} satisfies Record<string, Row>);

/** The tenant's SSO configuration exists (GET and DELETE act on it); written by the owner. */
async function ensureSso(): Promise<void> {
  const res = await ctx.app.inject({
    method: 'PUT',
    url: '/v1/sso/oidc',
    headers: tenant.auth,
    payload: { issuer: 'https://idp.example.com', clientId: 'palazzo' },
  });
  if (res.statusCode !== 200) throw new Error(res.body);
}

// Single sign-on configuration (issue 3, F-B6). Login routes are public (NOT_TENANT below).
Object.assign(MATRIX, {
  'GET /v1/sso/oidc': {
    permission: 'sso.read',
    request: async () => {
      await ensureSso();
      return { url: '/v1/sso/oidc' };
    },
    ...OWNER_ADMIN(OK),
  },
  'PUT /v1/sso/oidc': {
    permission: 'sso.write',
    request: async () => ({
      url: '/v1/sso/oidc',
      payload: { issuer: 'https://idp.example.com', clientId: `palazzo-${uniqueSlug()}`, clientSecret: 'matrix secret' },
    }),
    ...OWNER_ADMIN(OK),
  },
  'DELETE /v1/sso/oidc': {
    permission: 'sso.write',
    request: async () => {
      await ensureSso();
      return { url: '/v1/sso/oidc' };
    },
    ...OWNER_ADMIN(204),
  },
} satisfies Record<string, Row>);

/** A fresh custom role of the tenant, made by the owner (no permissions: anyone with roles.write may change it). */
async function newRole(): Promise<string> {
  const key = uniqueSlug('role');
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/roles',
    headers: tenant.auth,
    payload: { key, name: 'Matrix role', permissions: [] },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return key;
}

// Custom roles, locks and suspensions (issue 3, F-B5 and F-B7).
const ROLES_WRITE = (status: number) => OWNER_ADMIN(status);
Object.assign(MATRIX, {
  'GET /v1/roles/:key': {
    permission: 'roles.read',
    request: async () => ({ url: '/v1/roles/member' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: F },
  },
  'POST /v1/roles': {
    permission: 'roles.write',
    request: async () => ({ url: '/v1/roles', payload: { key: uniqueSlug('role'), name: 'Made in the matrix', permissions: [] } }),
    ...ROLES_WRITE(201),
  },
  'PATCH /v1/roles/:key': {
    permission: 'roles.write',
    request: async () => ({ url: `/v1/roles/${await newRole()}`, payload: { name: 'Renamed' } }),
    ...ROLES_WRITE(OK),
  },
  'DELETE /v1/roles/:key': {
    permission: 'roles.write',
    request: async () => ({ url: `/v1/roles/${await newRole()}` }),
    ...ROLES_WRITE(204),
  },
  'POST /v1/users/:id/unlock': {
    permission: 'users.write',
    request: async () => ({ url: `/v1/users/${await newUser()}/unlock` }),
    ...OWNER_ADMIN(OK),
  },
  'POST /v1/api-keys/:id/reinstate': {
    permission: 'api_keys.write',
    request: async () => ({ url: `/v1/api-keys/${await newKey()}/reinstate` }),
    ...OWNER_ADMIN(OK),
  },
  // Accounts. A key holding only users.write cannot give a role (every role holds more), as for POST /v1/users.
  'POST /v1/invitations': {
    permission: 'users.write',
    request: async () => ({ url: '/v1/invitations', payload: { email: `invited-${uniqueSlug()}@${tenant.slug}.test`, role: 'viewer' } }),
    ...{ owner: 201, admin: 201, manager: F, member: F, viewer: F, keyWith: F, keyWithout: F },
  },
  'GET /v1/invitations': {
    permission: 'users.read',
    request: async () => ({ url: '/v1/invitations' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: F, keyWith: OK, keyWithout: F },
  },
  'DELETE /v1/invitations/:id': {
    permission: 'users.write',
    request: async () => ({ url: `/v1/invitations/${await newInvitation()}` }),
    ...{ owner: 204, admin: 204, manager: F, member: F, viewer: F, keyWith: 204, keyWithout: F },
  },
  // A user's own password and verification link: an API key is refused whatever its scopes.
  'POST /v1/me/password': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me/password', payload: { currentPassword: PASSWORD, newPassword: PASSWORD } }),
    ...{ owner: 204, admin: 204, manager: 204, member: 204, viewer: 204, keyWith: F, keyWithout: F },
  },
  'POST /v1/me/email-verification': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me/email-verification' }),
    ...{ owner: 202, admin: 202, manager: 202, member: 202, viewer: 202, keyWith: F, keyWithout: F },
  },
} satisfies Record<string, Row>);

/** Routes that are not tenant routes (public or operator); the cross-tenant scanner checks they are what they claim. */
const NOT_TENANT =
  /^(OPTIONS \*|[A-Z]+ \/(docs|openapi\.json|healthz|readyz|\.well-known\/|v1\/auth\/(login|refresh|mfa|sso\/.+|signup|verify-email|password-reset|password-reset\/confirm|invitations\/accept)$|v1\/operator\/|v1\/public\/)|GET \/$)/;

async function login(email: string) {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { tenant: tenant.slug, email, password: PASSWORD } });
  if (res.statusCode !== 200) throw new Error(res.body);
  const body = res.json();
  return {
    token: body.accessToken as string,
    refreshToken: body.refreshToken as string,
    auth: { authorization: `Bearer ${body.accessToken}` },
  };
}

const users = new Map<Role, { id: string; email: string; auth: { authorization: string } }>();

beforeAll(async () => {
  // The matrix answers hundreds of refusals per caller on purpose; anomaly detection (tested in
  // test/access) would lock the viewer part-way through, so its floor is out of reach here.
  const base = testConfig();
  ctx = await createTestContext({ config: { threats: { ...base.threats, anomaly: { ...base.threats.anomaly, floor: 1_000_000 } } } });
  inventory = discoverRoutes(ctx.app);
  tenant = await ctx.tenant();
  users.set('owner', {
    id: (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: tenant.auth })).json().user.id,
    email: tenant.ownerEmail,
    auth: tenant.auth,
  });
  for (const role of ROLES.filter((r) => r !== 'owner')) users.set(role, await ctx.user(tenant, role));
  sharedUser = await newUser();
  sharedKey = await newKey();
});

afterAll(async () => {
  await ctx?.close();
});

describe('RBAC matrix (T08)', () => {
  it('has a row for every tenant route of the inventory, and no stale rows', () => {
    const tenantRoutes = inventory.filter((r) => r.method !== 'HEAD' && !NOT_TENANT.test(keyOf(r))).map(keyOf);
    expect(tenantRoutes.length).toBeGreaterThan(10);
    expect(
      tenantRoutes.filter((k) => !MATRIX[k]),
      'tenant routes missing from the matrix',
    ).toEqual([]);
    expect(
      Object.keys(MATRIX).filter((k) => !tenantRoutes.includes(k)),
      'stale rows',
    ).toEqual([]);
    for (const [key, row] of Object.entries(MATRIX)) {
      for (const column of COLUMNS) expect(row[column], `${key} ${column}`).toBeDefined();
    }
  });

  it('answers every role and key exactly as the matrix says', async () => {
    const mismatches: string[] = [];
    for (const [key, row] of Object.entries(MATRIX)) {
      const [method] = key.split(' ') as [string];
      const withScopes = row.permission === 'authenticated' ? (['tenant.read'] as Permission[]) : [row.permission];
      const withoutScopes = ALL_PERMISSIONS.filter((p) => p !== row.permission);
      for (const column of COLUMNS) {
        let auth: { authorization: string };
        if (column === 'keyWith') auth = (await ctx.apiKey(tenant, withScopes)).auth;
        else if (column === 'keyWithout') auth = (await ctx.apiKey(tenant, withoutScopes)).auth;
        else if (row.endsSession) auth = (await login((users.get(column) as { email: string }).email)).auth;
        else auth = (users.get(column) as { auth: { authorization: string } }).auth;
        const request = await row.request();
        const expected = row[column];
        const res = await ctx.app.inject({
          method: method as 'GET',
          url: request.url,
          headers: { ...auth, ...request.headers },
          payload: request.payload,
        });
        const label = `${key} as ${column}`;
        if (typeof expected === 'number') {
          if (res.statusCode !== expected) mismatches.push(`${label}: expected ${expected}, got ${res.statusCode} ${res.body}`);
        } else if (res.statusCode !== 403 || res.json().code !== expected) {
          mismatches.push(`${label}: expected 403 ${expected}, got ${res.statusCode} ${res.body}`);
        } else {
          expectProblem(res, 403, expected);
          // The guard names the missing permission; a field-level refusal explains itself in `detail`.
          const named = res.json().permission;
          // An `authenticated` route has no permission to name (a refusal there is a rule of the route).
          if (column === 'keyWithout' && row.permission !== 'authenticated') expect(named, label).toBe(row.permission);
          if (named !== undefined) expect(named, label).toBe(row.permission);
        }
        // HEAD follows GET.
        if (method === 'GET') {
          const head = await ctx.app.inject({ method: 'HEAD', url: request.url, headers: auth });
          const headExpected = typeof expected === 'number' ? expected : 403;
          if (head.statusCode !== headExpected) mismatches.push(`HEAD ${label}: expected ${headExpected}, got ${head.statusCode}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
    // Every row times seven callers, each with fresh resources: minutes on a loaded machine.
  }, 300_000);

  it('refuses with the guard (403 forbidden naming the permission) when the permission is missing', async () => {
    const viewer = users.get('viewer') as { auth: { authorization: string } };
    const res = await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: viewer.auth });
    expectProblem(res, 403, 'forbidden');
    expect(res.json().permission).toBe('users.read');
  });
});

describe('owner rules (T08)', () => {
  it('an admin (or any API key) cannot create an owner or promote to owner', async () => {
    const admin = users.get('admin') as { auth: { authorization: string } };
    const allKey = await ctx.apiKey(tenant, ALL_PERMISSIONS);
    for (const auth of [admin.auth, allKey.auth]) {
      const email = `would-be-owner-${uniqueSlug()}@${tenant.slug}.test`;
      const create = await ctx.app.inject({
        method: 'POST',
        url: '/v1/users',
        headers: auth,
        payload: { email, name: 'Owner?', role: 'owner', password: PASSWORD },
      });
      expectProblem(create, 403, 'forbidden');
      const stored = await ctx.db.withOwner((tx) => tx.query('SELECT 1 FROM users WHERE email = $1', [email]));
      expect(stored.rows).toEqual([]);
      const target = await newUser();
      const promote = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${target}`, headers: auth, payload: { role: 'owner' } });
      expectProblem(promote, 403, 'forbidden');
      const after = await ctx.app.inject({ method: 'GET', url: `/v1/users/${target}`, headers: tenant.auth });
      expect(after.json().role).toBe('member');
    }
    // The admin cannot promote itself either.
    const adminId = (users.get('admin') as { id: string }).id;
    const self = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${adminId}`, headers: admin.auth, payload: { role: 'owner' } });
    expectProblem(self, 403, 'forbidden');
  });

  it('only owners change owners', async () => {
    const second = await newUser();
    const promote = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${second}`, headers: tenant.auth, payload: { role: 'owner' } });
    expect(promote.statusCode, promote.body).toBe(200);
    expect(promote.json().role).toBe('owner');
    const admin = users.get('admin') as { auth: { authorization: string } };
    const allKey = await ctx.apiKey(tenant, ALL_PERMISSIONS);
    for (const auth of [admin.auth, allKey.auth]) {
      const demote = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${second}`, headers: auth, payload: { role: 'member' } });
      expectProblem(demote, 403, 'forbidden');
      const deactivate = await ctx.app.inject({ method: 'POST', url: `/v1/users/${second}/deactivate`, headers: auth });
      expectProblem(deactivate, 403, 'forbidden');
      const rename = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${second}`, headers: auth, payload: { role: 'owner' } });
      expect(rename.statusCode, 'setting the role it already has changes nothing').toBe(200);
    }
    const state = await ctx.app.inject({ method: 'GET', url: `/v1/users/${second}`, headers: tenant.auth });
    expect(state.json()).toMatchObject({ role: 'owner', status: 'active' });
    const byOwner = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${second}`, headers: tenant.auth, payload: { role: 'admin' } });
    expect(byOwner.statusCode, byOwner.body).toBe(200);
    expect(byOwner.json().role).toBe('admin');
  });

  it('keeps the last active owner: no demotion, no deactivation (409); nobody deactivates themselves (409)', async () => {
    const solo = await ctx.tenant();
    const me = (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: solo.auth })).json().user.id as string;
    const demote = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${me}`, headers: solo.auth, payload: { role: 'admin' } });
    expectProblem(demote, 409, 'conflict');
    expect(demote.json().detail).toMatch(/owner/);
    const deactivate = await ctx.app.inject({ method: 'POST', url: `/v1/users/${me}/deactivate`, headers: solo.auth });
    expectProblem(deactivate, 409, 'conflict');

    // With a second owner who is deactivated, the first is still the last active one.
    const other = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: solo.auth,
      payload: { email: `second-owner@${solo.slug}.test`, name: 'Second', role: 'owner', password: PASSWORD },
    });
    expect(other.statusCode, other.body).toBe(201);
    const otherId = other.json().id as string;
    const off = await ctx.app.inject({ method: 'POST', url: `/v1/users/${otherId}/deactivate`, headers: solo.auth });
    expect(off.statusCode, off.body).toBe(200);
    const demoteAgain = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${me}`, headers: solo.auth, payload: { role: 'admin' } });
    expectProblem(demoteAgain, 409, 'conflict');
    const state = await ctx.app.inject({ method: 'GET', url: `/v1/users/${me}`, headers: solo.auth });
    expect(state.json()).toMatchObject({ role: 'owner', status: 'active' });

    // Once the second owner is back, the first may step down.
    const on = await ctx.app.inject({ method: 'POST', url: `/v1/users/${otherId}/reactivate`, headers: solo.auth });
    expect(on.statusCode, on.body).toBe(200);
    const stepDown = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${me}`, headers: solo.auth, payload: { role: 'admin' } });
    expect(stepDown.statusCode, stepDown.body).toBe(200);

    // Nobody deactivates themselves, whatever their role.
    const admin = users.get('admin') as { id: string; auth: { authorization: string } };
    const selfOff = await ctx.app.inject({ method: 'POST', url: `/v1/users/${admin.id}/deactivate`, headers: admin.auth });
    expectProblem(selfOff, 409, 'conflict');
    const still = await ctx.app.inject({ method: 'GET', url: `/v1/users/${admin.id}`, headers: tenant.auth });
    expect(still.json().status).toBe('active');
  });
});

describe('changes take effect on the next request (T08)', () => {
  it('a demoted user loses the permission on the very next request with the same access token', async () => {
    const victim = await ctx.user(tenant, 'admin');
    const target = await newUser();
    const before = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${target}`, headers: victim.auth, payload: { name: 'ok' } });
    expect(before.statusCode, before.body).toBe(200);
    const demote = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/users/${victim.id}`,
      headers: tenant.auth,
      payload: { role: 'viewer' },
    });
    expect(demote.statusCode, demote.body).toBe(200);
    const write = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${target}`, headers: victim.auth, payload: { name: 'no' } });
    expectProblem(write, 403, 'forbidden');
    const create = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: victim.auth,
      payload: { email: `x-${uniqueSlug()}@${tenant.slug}.test`, name: 'x', role: 'viewer', password: PASSWORD },
    });
    expectProblem(create, 403, 'forbidden');
    const read = await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: victim.auth });
    expectProblem(read, 403, 'forbidden');
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: victim.auth });
    expect(me.json().user.role).toBe('viewer');
    expect(me.json().permissions).not.toContain('users.write');
  });

  it("a deactivated user's access token gets 401 at once and the refresh token no longer works", async () => {
    const victim = await ctx.user(tenant, 'manager');
    const warm = await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: victim.auth });
    expect(warm.statusCode).toBe(200);
    const off = await ctx.app.inject({ method: 'POST', url: `/v1/users/${victim.id}/deactivate`, headers: tenant.auth });
    expect(off.statusCode, off.body).toBe(200);
    for (const url of ['/v1/users', '/v1/me', '/v1/permissions']) {
      const res = await ctx.app.inject({ method: 'GET', url, headers: victim.auth });
      expectProblem(res, 401, 'invalid_token');
    }
    const refresh = await ctx.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: victim.refreshToken } });
    expectProblem(refresh, 401, 'invalid_grant');
    const relogin = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: victim.email, password: PASSWORD },
    });
    expectProblem(relogin, 401, 'invalid_credentials');
    // Reactivation does not revive the old session.
    const on = await ctx.app.inject({ method: 'POST', url: `/v1/users/${victim.id}/reactivate`, headers: tenant.auth });
    expect(on.statusCode).toBe(200);
    const stale = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: victim.auth });
    expectProblem(stale, 401, 'invalid_token');
  });
});
