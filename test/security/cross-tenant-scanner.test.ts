/**
 * T06: cross-tenant API matrix generated from the route inventory. Tenant B's credentials (owner
 * JWT and an API key with every scope) are pointed at tenant A's resources through every route that
 * takes an id; every list and every other tenant route is scanned for A's identifiers; A's rows are
 * fingerprinted before and after. A route that is neither in the matrix nor exempted with a reason
 * turns the coverage test red.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_PERMISSIONS } from '../../src/modules/access/permissions.ts';
import { createTestContext, PASSWORD, type TestContext, type TestTenant, uniqueSlug } from '../helpers/harness.ts';
import { discoverRoutes, expectProblem, fill, fingerprint, hasParam, identifiersOf, keyOf, leaked, type Route } from './support.ts';
import { makePng, multipart } from '../branding/support.ts';

type Credential = { label: string; auth: { authorization: string } };

/** How to make, as tenant A, the resource a route with an id acts on, and what to send. */
type IdFixture = {
  make(a: TestTenant): Promise<string>;
  payload?: object;
  /** What A itself gets for its own id: proves the fixture points at a real resource. */
  ownStatus: number;
};

/** Tenant routes without an id: called as B, their responses must not contain any of A's identifiers. */
type ScanFixture = {
  /** Query strings to try; several carry A's ids (cursor, tenant filters). */
  queries?: (a: AIds) => string[];
  payload?: () => object;
  /** Extra request headers (e.g. If-Match on configuration writes). */
  headers?: Record<string, string>;
  status: number;
  /** The route ends the caller's session: use a throwaway login of B. */
  throwawaySession?: boolean;
  /** What B's API key gets when it differs from B's owner (a route meant for users only). */
  keyStatus?: number;
};

type AIds = { tenantId: string; slug: string; userId: string };

type Exemption = { reason: string; kind: 'public' | 'operator' };

let ctx: TestContext;
let a: TestTenant;
let b: TestTenant;
let bKey: Credential;
let bCredentials: Credential[];
let inventory: Route[];
const resources = new Map<string, string>();
let aUserId: string;

const cursorOf = (id: string) => Buffer.from(id).toString('base64url');

async function createUser(tenant: TestTenant, role = 'member'): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/users',
    headers: tenant.auth,
    payload: { email: `${role}-${uniqueSlug()}@${tenant.slug}.test`, name: 'Target', role, password: PASSWORD },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().id;
}

async function createDeactivatedUser(tenant: TestTenant): Promise<string> {
  const id = await createUser(tenant);
  const res = await ctx.app.inject({ method: 'POST', url: `/v1/users/${id}/deactivate`, headers: tenant.auth });
  if (res.statusCode !== 200) throw new Error(res.body);
  return id;
}

async function createKey(tenant: TestTenant): Promise<string> {
  return (await ctx.apiKey(tenant, ['users.read', 'tenant.read'])).id;
}

/** A new version of the tenant's configuration; its number is the id of GET /v1/config/versions/:version. */
async function createConfigVersion(tenant: TestTenant): Promise<string> {
  const res = await ctx.app.inject({
    method: 'PATCH',
    url: '/v1/config',
    headers: { ...tenant.auth, 'if-match': '*' },
    payload: { assistant: { systemPrompt: `set by ${tenant.slug} ${uniqueSlug()}` } },
  });
  if (res.statusCode !== 200) throw new Error(res.body);
  return String(res.json().version);
}

const TWO_VARIANTS = [
  { key: 'control', weight: 50 },
  { key: 'treatment', weight: 50 },
];

/** An experiment of the tenant; running when assignments and events are to be called on it. */
async function createExperiment(tenant: TestTenant, running = false): Promise<string> {
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
    await ctx.app.inject({ method: 'POST', url: `/v1/experiments/${id}/events`, headers: tenant.auth, payload: { type: 'conversion' } });
  }
  return id;
}

async function createDomain(tenant: TestTenant): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/domains',
    headers: tenant.auth,
    payload: { hostname: `${uniqueSlug('scan')}.example.com` },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().id;
}

/** A second session of the tenant's owner; its id is what DELETE /v1/me/sessions/:id ends. */
async function createOwnerSession(tenant: TestTenant): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: tenant.slug, email: tenant.ownerEmail, password: PASSWORD },
  });
  if (res.statusCode !== 200 || !res.json().accessToken) throw new Error(res.body);
  const list = await ctx.app.inject({
    method: 'GET',
    url: '/v1/me/sessions',
    headers: { authorization: `Bearer ${res.json().accessToken}` },
  });
  return (list.json().data as { id: string; current: boolean }[]).find((s) => s.current)?.id as string;
}

async function createInvitation(tenant: TestTenant): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/invitations',
    headers: tenant.auth,
    payload: { email: `invited-${uniqueSlug()}@${tenant.slug}.test`, role: 'member' },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().id;
}

async function createKnowledgeBase(tenant: TestTenant): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/knowledge-bases',
    headers: tenant.auth,
    payload: { name: uniqueSlug('kb') },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().id;
}

/** A base with one document: "baseId|documentId" (fill puts each in its own parameter). */
async function createKnowledgeDocument(tenant: TestTenant): Promise<string> {
  const base = await createKnowledgeBase(tenant);
  const upload = multipart(Buffer.from('A private document of tenant A.'), { filename: 'a.txt', contentType: 'text/plain' });
  const res = await ctx.app.inject({
    method: 'POST',
    url: `/v1/knowledge-bases/${base}/documents`,
    headers: { ...tenant.auth, ...upload.headers },
    payload: upload.payload,
  });
  if (res.statusCode !== 202) throw new Error(res.body);
  // Ingested now, so no queued job of A's is left for a drain (here, or in another test process on a
  // shared PostgreSQL) to run while A's rows are being fingerprinted.
  const url = `/v1/knowledge-bases/${base}/documents/${res.json().id}`;
  for (let i = 0; ; i++) {
    await ctx.palazzo.services.jobs.drain();
    const status = (await ctx.app.inject({ method: 'GET', url, headers: tenant.auth })).json().status;
    if (status === 'ready') break;
    if (status === 'failed' || i > 600) throw new Error(`the fixture document ended ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return `${base}|${res.json().id}`;
}

/** The same multipart logo body for every call (one boundary). */
const LOGO_UPLOAD = multipart(makePng(), { filename: 'logo.png', contentType: 'image/png' });

/** The `done` event of an assistant answer given to the tenant's owner. */
async function assistantChat(tenant: TestTenant, message: string): Promise<{ conversationId: string; memorySaved: { id: string } }> {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/assistant/chat', headers: tenant.auth, payload: { message } });
  if (res.statusCode !== 200) throw new Error(res.body);
  const done = res.body.split('\n\n').find((block) => block.startsWith('event: done'));
  return JSON.parse((done as string).split('\ndata: ')[1] as string);
}
const createConversation = async (t: TestTenant) => (await assistantChat(t, 'What is the refund policy?')).conversationId;
const createMemory = async (t: TestTenant) => (await assistantChat(t, `Remember that my badge is ${uniqueSlug()}`)).memorySaved.id;
const intentName = () => `i_${uniqueSlug().replaceAll('-', '_')}`;
async function createIntent(tenant: TestTenant): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/assistant/intents',
    headers: tenant.auth,
    payload: { name: intentName(), examples: ['book a villa for the weekend'] },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().id;
}

/** A custom role of the tenant; its key is the id of /v1/roles/:key. */
async function createRole(tenant: TestTenant): Promise<string> {
  const key = uniqueSlug('role');
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/roles',
    headers: tenant.auth,
    payload: { key, name: 'Scanned role', permissions: ['users.read'] },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return key;
}

const ID_ROUTES: Record<string, IdFixture> = {
  // Knowledge (issue 6). The upload gets 415 from A itself here (a JSON body): the base was found, the body refused.
  'GET /v1/knowledge-bases/:id': { make: (t) => createKnowledgeBase(t), ownStatus: 200 },
  'HEAD /v1/knowledge-bases/:id': { make: (t) => createKnowledgeBase(t), ownStatus: 200 },
  'PATCH /v1/knowledge-bases/:id': { make: (t) => createKnowledgeBase(t), payload: { name: 'taken over by B' }, ownStatus: 200 },
  'DELETE /v1/knowledge-bases/:id': { make: (t) => createKnowledgeBase(t), ownStatus: 204 },
  'POST /v1/knowledge-bases/:id/reindex': { make: (t) => createKnowledgeBase(t), ownStatus: 202 },
  'GET /v1/knowledge-bases/:id/documents': { make: (t) => createKnowledgeBase(t), ownStatus: 200 },
  'HEAD /v1/knowledge-bases/:id/documents': { make: (t) => createKnowledgeBase(t), ownStatus: 200 },
  'POST /v1/knowledge-bases/:id/documents': { make: (t) => createKnowledgeBase(t), payload: { file: 'x' }, ownStatus: 415 },
  'GET /v1/knowledge-bases/:id/documents/:documentId': { make: (t) => createKnowledgeDocument(t), ownStatus: 200 },
  'HEAD /v1/knowledge-bases/:id/documents/:documentId': { make: (t) => createKnowledgeDocument(t), ownStatus: 200 },
  'DELETE /v1/knowledge-bases/:id/documents/:documentId': { make: (t) => createKnowledgeDocument(t), ownStatus: 204 },
  'POST /v1/knowledge-bases/:id/documents/:documentId/reindex': { make: (t) => createKnowledgeDocument(t), ownStatus: 202 },
  'GET /v1/users/:id': { make: (t) => createUser(t), ownStatus: 200 },
  'HEAD /v1/users/:id': { make: (t) => createUser(t), ownStatus: 200 },
  'PATCH /v1/users/:id': { make: (t) => createUser(t), payload: { name: 'taken over by B' }, ownStatus: 200 },
  'POST /v1/users/:id/deactivate': { make: (t) => createUser(t), ownStatus: 200 },
  'POST /v1/users/:id/reactivate': { make: (t) => createDeactivatedUser(t), ownStatus: 200 },
  'GET /v1/api-keys/:id': { make: (t) => createKey(t), ownStatus: 200 },
  'HEAD /v1/api-keys/:id': { make: (t) => createKey(t), ownStatus: 200 },
  'DELETE /v1/api-keys/:id': { make: (t) => createKey(t), ownStatus: 204 },
  'POST /v1/api-keys/:id/rotate': { make: (t) => createKey(t), payload: { overlapSeconds: 0 }, ownStatus: 200 },
  'GET /v1/assistant/conversations/:id': { make: (t) => createConversation(t), ownStatus: 200 },
  'HEAD /v1/assistant/conversations/:id': { make: (t) => createConversation(t), ownStatus: 200 },
  'GET /v1/assistant/conversations/:id/messages': { make: (t) => createConversation(t), ownStatus: 200 },
  'HEAD /v1/assistant/conversations/:id/messages': { make: (t) => createConversation(t), ownStatus: 200 },
  'DELETE /v1/assistant/conversations/:id': { make: (t) => createConversation(t), ownStatus: 204 },
  'DELETE /v1/assistant/memories/:id': { make: (t) => createMemory(t), ownStatus: 204 },
  'GET /v1/assistant/intents/:id': { make: (t) => createIntent(t), ownStatus: 200 },
  'HEAD /v1/assistant/intents/:id': { make: (t) => createIntent(t), ownStatus: 200 },
  'PATCH /v1/assistant/intents/:id': { make: (t) => createIntent(t), payload: { threshold: 0.9 }, ownStatus: 200 },
  'DELETE /v1/assistant/intents/:id': { make: (t) => createIntent(t), ownStatus: 204 },
  'GET /v1/experiments/:id': { make: (t) => createExperiment(t), ownStatus: 200 },
  'HEAD /v1/experiments/:id': { make: (t) => createExperiment(t), ownStatus: 200 },
  'PATCH /v1/experiments/:id': { make: (t) => createExperiment(t), payload: { description: 'taken over by B' }, ownStatus: 200 },
  'DELETE /v1/experiments/:id': { make: (t) => createExperiment(t), ownStatus: 204 },
  'POST /v1/experiments/:id/assignments': { make: (t) => createExperiment(t, true), payload: { subjectId: 'probe' }, ownStatus: 200 },
  'POST /v1/experiments/:id/events': {
    make: (t) => createExperiment(t, true),
    payload: { type: 'conversion', subjectId: 'probe' },
    ownStatus: 200,
  },
  'GET /v1/experiments/:id/results': { make: (t) => createExperiment(t, true), ownStatus: 200 },
  'HEAD /v1/experiments/:id/results': { make: (t) => createExperiment(t, true), ownStatus: 200 },
  'GET /v1/domains/:id': { make: (t) => createDomain(t), ownStatus: 200 },
  'HEAD /v1/domains/:id': { make: (t) => createDomain(t), ownStatus: 200 },
  'POST /v1/domains/:id/verify': { make: (t) => createDomain(t), ownStatus: 200 },
  'DELETE /v1/domains/:id': { make: (t) => createDomain(t), ownStatus: 204 },
  // Version numbers count per tenant: B, which has no configuration version yet, must not reach A's.
  'GET /v1/config/versions/:version': { make: (t) => createConfigVersion(t), ownStatus: 200 },
  // A's sessions and second factors: B's owner gets 404 for them, and so does B's key (it has no sessions).
  'DELETE /v1/me/sessions/:id': { make: (t) => createOwnerSession(t), ownStatus: 204 },
  'GET /v1/users/:id/sessions': { make: (t) => createUser(t), ownStatus: 200 },
  'POST /v1/users/:id/sessions/revoke': { make: (t) => createUser(t), ownStatus: 200 },
  'DELETE /v1/users/:id/mfa': { make: (t) => createUser(t), ownStatus: 204 },
  // Custom roles (keyed by their key, unique per tenant), locks and suspensions (issue 3).
  'GET /v1/roles/:key': { make: (t) => createRole(t), ownStatus: 200 },
  'HEAD /v1/roles/:key': { make: (t) => createRole(t), ownStatus: 200 },
  'PATCH /v1/roles/:key': { make: (t) => createRole(t), payload: { name: 'taken over by B' }, ownStatus: 200 },
  'DELETE /v1/roles/:key': { make: (t) => createRole(t), ownStatus: 204 },
  'POST /v1/users/:id/unlock': { make: (t) => createUser(t), ownStatus: 200 },
  'POST /v1/api-keys/:id/reinstate': { make: (t) => createKey(t), ownStatus: 200 },
  'DELETE /v1/invitations/:id': { make: (t) => createInvitation(t), ownStatus: 204 },
};

const SCAN_ROUTES: Record<string, ScanFixture> = {
  'GET /v1/users': {
    status: 200,
    queries: (ids) => [
      '',
      `?cursor=${cursorOf(ids.userId)}`,
      `?tenant_id=${ids.tenantId}`,
      `?tenantId=${ids.tenantId}`,
      `?tenant=${ids.slug}`,
      '?status=deactivated',
      '?role=member&limit=200',
    ],
  },
  'GET /v1/api-keys': { status: 200, queries: (ids) => ['', '?includeRevoked=true', `?cursor=${cursorOf(ids.userId)}`] },
  'GET /v1/security-events': { status: 200, queries: (ids) => ['', '?type=tenant_mismatch', `?cursor=${cursorOf(ids.userId)}`] },
  'GET /v1/audit-log': {
    status: 200,
    queries: (ids) => ['', `?actorId=${ids.userId}`, `?targetId=${ids.userId}`, `?tenant_id=${ids.tenantId}`, '?outcome=failure&limit=200'],
  },
  'GET /v1/audit-log/verify': { status: 200 },
  'GET /v1/audit-log/export': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'GET /v1/roles': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'GET /v1/permissions': { status: 200 },
  'GET /v1/me': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'GET /v1/tenant': { status: 200, queries: (ids) => ['', `?id=${ids.tenantId}`, `?tenant_id=${ids.tenantId}`] },
  'POST /v1/users': {
    status: 201,
    payload: () => ({ email: `made-by-b-${uniqueSlug()}@b.test`, name: 'Made by B', role: 'member', password: PASSWORD }),
  },
  'POST /v1/api-keys': { status: 201, payload: () => ({ name: 'made by B', scopes: ['users.read'] }) },
  'POST /v1/roles': { status: 201, payload: () => ({ key: uniqueSlug('b-role'), name: 'Made by B', permissions: ['users.read'] }) },
  'POST /v1/auth/logout': { status: 204, throwawaySession: true },
  'GET /v1/usage': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'GET /v1/usage/timeseries': {
    status: 200,
    queries: (ids) => {
      const range = `from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date(Date.now() + 3_600_000).toISOString()}`;
      return [`?metric=api_calls&${range}`, `?metric=api_calls&granularity=hour&${range}&tenant_id=${ids.tenantId}`];
    },
  },
  'GET /v1/usage/alerts': { status: 200, queries: (ids) => ['', `?cursor=${cursorOf(ids.userId)}`] },
  'GET /v1/tenant/rate-limits': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'PUT /v1/tenant/rate-limits': { status: 200, payload: () => ({ perUserPerMinute: 1000, perApiKeyPerMinute: null }) },
  'GET /v1/experiments': {
    status: 200,
    queries: (ids) => ['', '?status=running', `?cursor=${cursorOf(ids.userId)}`, `?tenant_id=${ids.tenantId}`],
  },
  'POST /v1/experiments': { status: 201, payload: () => ({ key: uniqueSlug('b-exp'), variants: TWO_VARIANTS }) },
  'GET /v1/domains': { status: 200, queries: (ids) => ['', `?cursor=${cursorOf(ids.userId)}`, `?tenant_id=${ids.tenantId}`] },
  'POST /v1/domains': { status: 201, payload: () => ({ hostname: `${uniqueSlug('b')}.example.com` }) },
  'GET /v1/branding': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'PUT /v1/branding': {
    status: 200,
    payload: () => ({ colors: { primary: '#222222', background: '#FFFFFF', text: '#000000' }, fontFamily: 'Inter' }),
  },
  // Upload before read and delete: B then has a logo of its own to read.
  'PUT /v1/branding/logo': { status: 200, headers: LOGO_UPLOAD.headers, payload: () => LOGO_UPLOAD.payload },
  'GET /v1/branding/logo': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'DELETE /v1/branding/logo': { status: 204 },
  'GET /v1/localization': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'PATCH /v1/me': { status: 200, keyStatus: 403, payload: () => ({ locale: 'en', timezone: 'UTC' }) },
  'PUT /v1/tenant/localization': { status: 200, payload: () => ({ locale: 'en', timezone: 'UTC' }) },
  'GET /v1/config/effective': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`, `?tenantId=${ids.tenantId}`] },
  'GET /v1/config': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'PATCH /v1/config': { status: 200, headers: { 'if-match': '*' }, payload: () => ({ retrieval: { topK: 6 }, message: 'by B' }) },
  'GET /v1/config/versions': { status: 200, queries: (ids) => ['', '?limit=200', `?tenant_id=${ids.tenantId}`] },
  'GET /v1/config/diff': { status: 200, queries: (ids) => ['?from=0&to=0', `?from=0&to=0&tenant_id=${ids.tenantId}`] },
  'POST /v1/config/rollback': { status: 200, headers: { 'if-match': '*' }, payload: () => ({ version: 0 }) },
  // The assistant (issue 6). B chats before it sets a provider, and removes the provider right after
  // setting it, so no scan reaches a real provider.
  'POST /v1/assistant/chat': { status: 200, payload: () => ({ message: 'What is the refund policy?' }) },
  'POST /v1/search': { status: 200, payload: () => ({ query: 'What is the refund policy?' }) },
  'GET /v1/assistant/conversations': {
    status: 200,
    queries: (ids) => ['', `?cursor=${cursorOf(ids.userId)}`, `?tenant_id=${ids.tenantId}`],
  },
  'GET /v1/knowledge-bases': { status: 200, queries: (ids) => ['', `?cursor=${cursorOf(ids.userId)}`, `?tenant_id=${ids.tenantId}`] },
  'POST /v1/knowledge-bases': { status: 201, payload: () => ({ name: uniqueSlug('kb-by-b') }) },
  'GET /v1/assistant/memories': { status: 200, queries: (ids) => ['', `?cursor=${cursorOf(ids.userId)}`, `?tenant_id=${ids.tenantId}`] },
  'GET /v1/ai/provider': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'PUT /v1/ai/provider': { status: 200, payload: () => ({ kind: 'openai', chatModel: 'gpt-4o-mini', apiKey: 'sk-made-by-b' }) },
  'DELETE /v1/ai/provider': { status: 204 },
  'GET /v1/assistant/intents': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'POST /v1/assistant/intents': { status: 201, payload: () => ({ name: intentName(), examples: ['made by B'] }) },
  'POST /v1/assistant/intents/test': { status: 200, payload: () => ({ text: 'book a villa for the weekend' }) },
  'GET /v1/assistant/vocabulary': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`] },
  'PUT /v1/assistant/vocabulary': { status: 200, payload: () => ({ entries: [{ term: 'b', synonyms: ['bee'] }] }) },
  // Sessions and second factors are a user's own; API keys are refused (403). In this order: the
  // re-authentication keeps the step-up routes after it fresh; enrolment leaves a pending factor.
  'GET /v1/me/sessions': {
    status: 200,
    keyStatus: 403,
    queries: (ids) => ['', `?cursor=${cursorOf(ids.userId)}`, `?userId=${ids.userId}`],
  },
  'POST /v1/me/sessions/revoke-others': { status: 200, keyStatus: 403 },
  'POST /v1/auth/reauthenticate': { status: 200, keyStatus: 403, payload: () => ({ password: PASSWORD }) },
  'GET /v1/me/mfa': { status: 200, keyStatus: 403, queries: (ids) => ['', `?userId=${ids.userId}`] },
  'POST /v1/me/mfa/totp': { status: 200, keyStatus: 403 },
  'POST /v1/me/mfa/totp/confirm': { status: 401, keyStatus: 403, payload: () => ({ code: 'not-a-code' }) },
  'POST /v1/me/mfa/recovery-codes': { status: 409, keyStatus: 403 },
  'DELETE /v1/me/mfa/totp': { status: 204, keyStatus: 403 },
  // SSO (issue 3): B writes its own configuration, reads it, then deletes it (the owner's call
  // deletes it, so B's key, which comes second, finds none).
  'PUT /v1/sso/oidc': {
    status: 200,
    payload: () => ({ issuer: 'https://idp.b.example', clientId: 'b-client', clientSecret: 'b secret' }),
  },
  'GET /v1/sso/oidc': { status: 200, queries: (ids) => ['', `?tenant_id=${ids.tenantId}`, `?tenantId=${ids.tenantId}`] },
  'DELETE /v1/sso/oidc': { status: 204, keyStatus: 404 },
  'GET /v1/invitations': {
    status: 200,
    queries: (ids) => ['', '?status=pending', `?cursor=${cursorOf(ids.userId)}`, `?tenant_id=${ids.tenantId}`],
  },
  'POST /v1/invitations': { status: 201, payload: () => ({ email: `invited-by-b-${uniqueSlug()}@b.test`, role: 'member' }) },
  'POST /v1/me/password': { status: 204, keyStatus: 403, payload: () => ({ currentPassword: PASSWORD, newPassword: PASSWORD }) },
  'POST /v1/me/email-verification': { status: 202, keyStatus: 403 },
};

const CONFIG_LEVEL: Exemption = {
  kind: 'operator',
  reason: 'control plane: a configuration level above the tenant (global, profile, tier); tenant tokens get 401 (checked)',
};
const CONFIG_PROFILES: Exemption = {
  kind: 'operator',
  reason: 'control plane: the catalogue of industry profiles; tenant tokens get 401 (checked)',
};
const CONFIG_ROLLOUT: Exemption = {
  kind: 'operator',
  reason: 'control plane: rollouts of global configuration changes; tenant tokens get 401 (checked)',
};

/** Routes outside the tenant matrix, each with the reason. HEAD twins follow their GET route. */
const EXEMPT: Record<string, Exemption> = {
  'GET /': { kind: 'public', reason: 'redirect to the docs UI; no data' },
  'GET /docs': { kind: 'public', reason: 'Swagger UI; static, no tenant data' },
  'GET /docs/': { kind: 'public', reason: 'Swagger UI; static, no tenant data' },
  'GET /docs/*': { kind: 'public', reason: 'Swagger UI static assets; the wildcard names a file, not a resource' },
  'GET /docs/static/index.html': { kind: 'public', reason: 'Swagger UI; static' },
  'GET /docs/static/swagger-initializer.js': { kind: 'public', reason: 'Swagger UI; static' },
  'GET /docs/json': { kind: 'public', reason: 'the OpenAPI document; no tenant data' },
  'GET /docs/yaml': { kind: 'public', reason: 'the OpenAPI document; no tenant data' },
  'GET /openapi.json': { kind: 'public', reason: 'the OpenAPI document; no tenant data' },
  'OPTIONS *': { kind: 'public', reason: 'CORS preflight (origin: false); carries no data' },
  'GET /healthz': { kind: 'public', reason: 'liveness; no tenant data' },
  'GET /readyz': { kind: 'public', reason: 'readiness; migration names only' },
  'GET /.well-known/jwks.json': { kind: 'public', reason: 'public signing keys, shared by all tenants' },
  'POST /v1/auth/login': { kind: 'public', reason: 'credential exchange; the tenant is named by the caller (covered by bad-input)' },
  'POST /v1/auth/refresh': { kind: 'public', reason: 'credential exchange; the tenant is inside the refresh token' },
  'POST /v1/auth/mfa': {
    kind: 'public',
    reason: 'second step of a login; the tenant and user are bound to the single-use mfaToken (test/mfa checks foreign tokens)',
  },
  'POST /v1/operator/login': { kind: 'public', reason: 'operator credential exchange' },
  'GET /v1/auth/sso/:tenantSlug/start': {
    kind: 'public',
    reason: 'SSO login start; the tenant is named by the caller like login; unknown tenant and no SSO answer the same 404',
  },
  'GET /v1/auth/sso/callback': {
    kind: 'public',
    reason: "the provider's redirect; the tenant is inside the single-use state issued by the server (covered by test/sso)",
  },
  'POST /v1/auth/sso/exchange': { kind: 'public', reason: 'credential exchange; the tenant is inside the one-time code' },
  'POST /v1/operator/tenants/:id/impersonate': {
    kind: 'operator',
    reason: 'control plane: an operator mints an impersonation token; tenant tokens get 401 (checked, and in test/sso)',
  },
  'POST /v1/auth/signup': { kind: 'public', reason: 'creates a new tenant of its own; takes no tenant or resource id' },
  'POST /v1/auth/verify-email': {
    kind: 'public',
    reason: 'the tenant is inside the mailed token; foreign tokens are tested in test/accounts',
  },
  'POST /v1/auth/password-reset': { kind: 'public', reason: 'answers alike for any tenant and email (no enumeration, test/accounts)' },
  'POST /v1/auth/password-reset/confirm': {
    kind: 'public',
    reason: 'the tenant is inside the mailed token; foreign tokens are tested in test/accounts',
  },
  'POST /v1/auth/invitations/accept': {
    kind: 'public',
    reason: 'the tenant is inside the mailed token; foreign tokens are tested in test/accounts',
  },
  'GET /v1/operator/mail': {
    kind: 'operator',
    reason: 'control plane: the outbound mail queue of the instance; tenant tokens get 401 (checked)',
  },
  'GET /v1/operator/tenants': { kind: 'operator', reason: 'control plane, not tenant-scoped; tenant tokens get 401 (checked)' },
  'POST /v1/operator/tenants': { kind: 'operator', reason: 'control plane, not tenant-scoped; tenant tokens get 401 (checked)' },
  'GET /v1/operator/tenants/:id': { kind: 'operator', reason: 'control plane; tenant tokens get 401 (checked)' },
  'PATCH /v1/operator/tenants/:id': { kind: 'operator', reason: 'control plane; tenant tokens get 401 (checked)' },
  'DELETE /v1/operator/tenants/:id': { kind: 'operator', reason: 'control plane; tenant tokens get 401 (checked)' },
  'POST /v1/operator/tenants/:id/suspend': { kind: 'operator', reason: 'control plane; tenant tokens get 401 (checked)' },
  'POST /v1/operator/tenants/:id/resume': { kind: 'operator', reason: 'control plane; tenant tokens get 401 (checked)' },
  'POST /v1/operator/tenants/:id/offboard': { kind: 'operator', reason: 'control plane; tenant tokens get 401 (checked)' },
  'GET /v1/operator/tiers': { kind: 'operator', reason: 'control plane, tiers are global; tenant tokens get 401 (checked)' },
  'PUT /v1/operator/tiers/:name': { kind: 'operator', reason: 'control plane, tiers are global; tenant tokens get 401 (checked)' },
  'GET /v1/operator/usage': { kind: 'operator', reason: "control plane view of every tenant's usage; tenant tokens get 401 (checked)" },
  'GET /v1/operator/tenants/:id/usage': { kind: 'operator', reason: 'control plane; tenant tokens get 401 (checked)' },
  'GET /v1/public/branding': {
    kind: 'public',
    reason: 'public site branding chosen by the Host header (verified domain or subdomain), never by an id; 404 otherwise',
  },
  'GET /v1/public/branding/logo': { kind: 'public', reason: 'the public logo of the site named by the Host header; 404 otherwise' },
  'GET /v1/operator/config/global': CONFIG_LEVEL,
  'PATCH /v1/operator/config/global': CONFIG_LEVEL,
  'GET /v1/operator/config/global/versions': CONFIG_LEVEL,
  'GET /v1/operator/config/global/versions/:version': CONFIG_LEVEL,
  'GET /v1/operator/config/global/diff': CONFIG_LEVEL,
  'POST /v1/operator/config/global/rollback': CONFIG_LEVEL,
  'GET /v1/operator/config/profiles/:profile': CONFIG_LEVEL,
  'PATCH /v1/operator/config/profiles/:profile': CONFIG_LEVEL,
  'GET /v1/operator/config/profiles/:profile/versions': CONFIG_LEVEL,
  'GET /v1/operator/config/profiles/:profile/versions/:version': CONFIG_LEVEL,
  'GET /v1/operator/config/profiles/:profile/diff': CONFIG_LEVEL,
  'POST /v1/operator/config/profiles/:profile/rollback': CONFIG_LEVEL,
  'GET /v1/operator/config/tiers/:tier': CONFIG_LEVEL,
  'PATCH /v1/operator/config/tiers/:tier': CONFIG_LEVEL,
  'GET /v1/operator/config/tiers/:tier/versions': CONFIG_LEVEL,
  'GET /v1/operator/config/tiers/:tier/versions/:version': CONFIG_LEVEL,
  'GET /v1/operator/config/tiers/:tier/diff': CONFIG_LEVEL,
  'POST /v1/operator/config/tiers/:tier/rollback': CONFIG_LEVEL,
  'GET /v1/operator/config/profiles': CONFIG_PROFILES,
  'POST /v1/operator/config/profiles': CONFIG_PROFILES,
  'GET /v1/operator/config/global/rollouts': CONFIG_ROLLOUT,
  'POST /v1/operator/config/global/rollouts': CONFIG_ROLLOUT,
  'GET /v1/operator/config/global/rollouts/:id': CONFIG_ROLLOUT,
  'PATCH /v1/operator/config/global/rollouts/:id': CONFIG_ROLLOUT,
  'POST /v1/operator/config/global/rollouts/:id/rollback': CONFIG_ROLLOUT,
  'POST /v1/operator/config/global/rollouts/:id/complete': CONFIG_ROLLOUT,
};

/** A HEAD route is Fastify's twin of a GET route (same handler, guard and config). */
function entryFor(route: Route): { table: 'id' | 'scan' | 'exempt'; key: string } | undefined {
  const key = keyOf(route);
  if (ID_ROUTES[key]) return { table: 'id', key };
  if (SCAN_ROUTES[key]) return { table: 'scan', key };
  if (EXEMPT[key]) return { table: 'exempt', key };
  if (route.method === 'HEAD') return entryFor({ method: 'GET', url: route.url });
  return undefined;
}

beforeAll(async () => {
  ctx = await createTestContext();
  inventory = discoverRoutes(ctx.app);
  a = await ctx.tenant();
  b = await ctx.tenant();
  bKey = { label: "B's API key (all scopes)", auth: (await ctx.apiKey(b, ALL_PERMISSIONS)).auth };
  bCredentials = [{ label: "B's owner JWT", auth: b.auth }, bKey];
  // B has data of its own, so B's lists are not trivially empty.
  await createUser(b);
  await createKey(b);
  // A has rows in every table: users, a deactivated user, keys (one revoked), security events.
  aUserId = await createUser(a);
  await createDeactivatedUser(a);
  const revoked = await createKey(a);
  await ctx.app.inject({ method: 'DELETE', url: `/v1/api-keys/${revoked}`, headers: a.auth });
  await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { ...a.auth, 'x-tenant-id': b.id } });
  await ctx.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { tenant: a.slug, email: a.ownerEmail, password: 'wrong' } });
  for (const [key, fixture] of Object.entries(ID_ROUTES)) resources.set(key, await fixture.make(a));
  // A has an SSO configuration (with a secret), so B's SSO routes act next to A's row.
  await ctx.app.inject({
    method: 'PUT',
    url: '/v1/sso/oidc',
    headers: a.auth,
    payload: { issuer: 'https://idp.a.example', clientId: 'a-client', clientSecret: 'a secret' },
  });
  // A has branding and a logo, so B's branding routes act next to A's rows.
  await ctx.app.inject({
    method: 'PUT',
    url: '/v1/branding',
    headers: a.auth,
    payload: { colors: { primary: '#0B5394', background: '#FFFFFF', text: '#111111' }, fontFamily: null },
  });
  await ctx.app.inject({
    method: 'PUT',
    url: '/v1/branding/logo',
    headers: { ...a.auth, ...LOGO_UPLOAD.headers },
    payload: LOGO_UPLOAD.payload,
  });
});

afterAll(async () => {
  await ctx?.close();
});

describe('cross-tenant scanner (T06)', () => {
  it('covers every route of the inventory: matrix entry or exemption with a reason', () => {
    expect(inventory.length).toBeGreaterThan(20);
    const uncovered = inventory.filter((route) => !entryFor(route)).map(keyOf);
    expect(uncovered, 'routes with neither a matrix entry nor a written exemption').toEqual([]);
    // A route that takes an id and is not exempted must be in the id matrix (not merely scanned).
    const misfiled = inventory.filter((r) => hasParam(r) && entryFor(r)?.table === 'scan').map(keyOf);
    expect(misfiled).toEqual([]);
    for (const [key, exemption] of Object.entries(EXEMPT)) expect(exemption.reason.length, key).toBeGreaterThan(10);
    // No stale entries: every table row names a route that exists.
    const known = new Set(inventory.map(keyOf));
    const stale = [...Object.keys(ID_ROUTES), ...Object.keys(SCAN_ROUTES), ...Object.keys(EXEMPT)].filter((k) => !known.has(k));
    expect(stale).toEqual([]);
  });

  it('classifies routes truthfully: tenant routes refuse anonymous and operator callers, public routes do not ask for a token', async () => {
    const tenantRoutes = [...Object.keys(ID_ROUTES), ...Object.keys(SCAN_ROUTES)];
    for (const key of tenantRoutes) {
      const [method, url] = key.split(' ') as [string, string];
      const path = fill(url, randomUUID());
      const anonymous = await ctx.app.inject({ method: method as 'GET', url: path });
      expect(anonymous.statusCode, `${key} anonymous`).toBe(401);
      const operator = await ctx.app.inject({ method: method as 'GET', url: path, headers: ctx.operatorAuth });
      expect(operator.statusCode, `${key} with an operator token`).toBe(401);
    }
    for (const [key, exemption] of Object.entries(EXEMPT)) {
      if (exemption.kind !== 'public') continue;
      const [method, url] = key.split(' ') as [string, string];
      const path = url === '*' ? '/v1/users' : url.replace('*', 'nothing-here');
      const res = await ctx.app.inject({ method: method as 'GET', url: path });
      expect(res.statusCode, `${key} is declared public`).not.toBe(401);
    }
  });

  it("tenant credentials get 401 on every operator route, even with their own tenant's id", async () => {
    const operatorRoutes = inventory.filter(
      (r) => EXEMPT[keyOf(r)]?.kind === 'operator' || EXEMPT[keyOf({ ...r, method: 'GET' })]?.kind === 'operator',
    );
    expect(operatorRoutes.length).toBeGreaterThan(8);
    // B's earlier calls are metered in memory: write them now, or a timed flush during the loop changes B's rows.
    await ctx.palazzo.services.apiKeys.flushUsage();
    await ctx.palazzo.services.meter.flush();
    const before = await fingerprint(ctx.db, b.id);
    for (const route of operatorRoutes) {
      for (const credential of bCredentials) {
        const url = route.url.replace(':id', b.id).replace(':name', 'enterprise');
        const res = await ctx.app.inject({
          method: route.method as 'GET',
          url: route.method === 'DELETE' ? `${url}?confirm=${b.slug}` : url,
          headers: credential.auth,
          ...(['POST', 'PATCH', 'PUT'].includes(route.method) ? { payload: {} } : {}),
        });
        if (route.method === 'HEAD') expect(res.statusCode, keyOf(route)).toBe(401);
        else expectProblem(res, 401, 'invalid_token');
      }
    }
    expect(await fingerprint(ctx.db, b.id)).toEqual(before);
  });

  it("answers B's requests for A's ids exactly as for ids that do not exist, and changes none of A's rows", async () => {
    await ctx.palazzo.services.apiKeys.flushUsage();
    await ctx.palazzo.services.meter.flush();
    const before = await fingerprint(ctx.db, a.id);
    const aIds = await identifiersOf(ctx.db, a.id);
    for (const [key, fixture] of Object.entries(ID_ROUTES)) {
      const [method, url] = key.split(' ') as [string, string];
      const target = resources.get(key) as string;
      for (const credential of bCredentials) {
        const call = (id: string) =>
          ctx.app.inject({ method: method as 'GET', url: fill(url, id), headers: credential.auth, payload: fixture.payload });
        const random = await call(randomUUID());
        expect(random.statusCode, `${key} random id`).toBe(404);
        if (method !== 'HEAD') expectProblem(random, 404, 'not_found');
        for (const probe of [target, target.toUpperCase(), 'not-a-uuid', `${target}x`, '0', "1' OR '1'='1"]) {
          const res = await call(probe.split('|').map(encodeURIComponent).join('|'));
          const label = `${key} as ${credential.label} with ${probe === target ? "A's id" : probe}`;
          expect(res.statusCode, label).toBe(404);
          expect(res.body, label).toBe(random.body);
          expect(res.headers['content-type'], label).toBe(random.headers['content-type']);
          expect(res.headers['content-length'], label).toBe(random.headers['content-length']);
          expect(leaked(res.body, aIds), label).toEqual([]);
        }
      }
    }
    await ctx.palazzo.services.apiKeys.flushUsage();
    await ctx.palazzo.services.meter.flush();
    expect(await fingerprint(ctx.db, a.id)).toEqual(before);
  });

  it("never shows B any of A's identifiers on list and other tenant routes, and leaves A unchanged", async () => {
    await ctx.palazzo.services.apiKeys.flushUsage();
    await ctx.palazzo.services.meter.flush();
    const before = await fingerprint(ctx.db, a.id);
    const aIds = await identifiersOf(ctx.db, a.id);
    expect(aIds.length).toBeGreaterThan(10);
    const ids: AIds = { tenantId: a.id, slug: a.slug, userId: aUserId };
    for (const [key, fixture] of Object.entries(SCAN_ROUTES)) {
      const [method, url] = key.split(' ') as [string, string];
      for (const credential of bCredentials) {
        for (const query of fixture.queries?.(ids) ?? ['']) {
          const auth = fixture.throwawaySession && credential !== bKey ? (await ctx.user(b, 'member')).auth : credential.auth;
          const res = await ctx.app.inject({
            method: method as 'GET',
            url: url + query,
            headers: { ...auth, ...fixture.headers },
            payload: fixture.payload?.(),
          });
          const label = `${key}${query} as ${credential.label}`;
          const expected = credential === bKey ? (fixture.keyStatus ?? fixture.status) : fixture.status;
          expect(res.statusCode, `${label}: ${res.body}`).toBe(expected);
          expect(leaked(res.body, aIds), label).toEqual([]);
          if (method === 'GET' && query === '') {
            // HEAD twin: same status, and no body at all.
            const head = await ctx.app.inject({ method: 'HEAD', url, headers: auth });
            expect(head.statusCode, `HEAD ${url}`).toBe(expected);
            expect(head.body).toBe('');
          }
        }
      }
    }
    await ctx.palazzo.services.apiKeys.flushUsage();
    await ctx.palazzo.services.meter.flush();
    expect(await fingerprint(ctx.db, a.id)).toEqual(before);
  });

  it("positive control: A reaches its own resources through the same routes, and A's lists do show A's ids", async () => {
    for (const [key, fixture] of Object.entries(ID_ROUTES)) {
      const [method, url] = key.split(' ') as [string, string];
      const res = await ctx.app.inject({
        method: method as 'GET',
        url: fill(url, resources.get(key) as string),
        headers: a.auth,
        payload: fixture.payload,
      });
      expect(res.statusCode, `${key} as A: ${res.body}`).toBe(fixture.ownStatus);
    }
    const aIds = await identifiersOf(ctx.db, a.id);
    for (const url of ['/v1/users', '/v1/api-keys?includeRevoked=true', '/v1/security-events', '/v1/tenant', '/v1/me']) {
      const res = await ctx.app.inject({ method: 'GET', url, headers: a.auth });
      expect(res.statusCode).toBe(200);
      expect(leaked(res.body, aIds).length, `${url} as A shows A's ids`).toBeGreaterThan(0);
    }
    // The fingerprint notices a change made by A itself.
    const before = await fingerprint(ctx.db, a.id);
    await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${aUserId}`, headers: a.auth, payload: { name: 'renamed by A' } });
    expect(await fingerprint(ctx.db, a.id)).not.toEqual(before);
  });
});
