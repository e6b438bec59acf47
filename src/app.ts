import { randomUUID } from 'node:crypto';
import { AjvCompiler } from '@fastify/ajv-compiler';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { auditedDatabase, auditRoutes, buildEntry, createAuditService } from './modules/audit/index.ts';
import {
  createConditionGuard,
  createGuard,
  createRoleService,
  createRouteCatalogue,
  registerBuiltinLoaders,
  roleRoutes,
} from './modules/access/index.ts';
import { API_KEY_PREFIX, apiKeyRoutes, createApiKeyService } from './modules/api-keys/index.ts';
import { healthRoutes } from './modules/health/health.routes.ts';
import { createAdmission, createRateLimiter } from './modules/limits/index.ts';
import { createApiCallMeter, createUsageService, routeGroup, usageRoutes } from './modules/metering/index.ts';
import { configRoutes, createConfigService, createRequestErrorTracker, type RequestErrorSource } from './modules/config/index.ts';
import {
  authRoutes,
  createAuthService,
  createPasswordHasher,
  createSessionService,
  createStepUp,
  createTokenService,
  createUserService,
  findUserById,
  meRoutes,
  sessionRoutes,
  userRoutes,
} from './modules/identity/index.ts';
import { createMfaService, mfaRoutes, type SendOneTimeCode } from './modules/mfa/index.ts';
import { createOperatorService, operatorAuthRoutes } from './modules/operators/index.ts';
import { brandingRoutes, createBrandingService } from './modules/branding/index.ts';
import { createDomainService, domainRoutes, systemTxtResolver, type TxtResolver } from './modules/domains/index.ts';
import { createExperimentService, experimentRoutes } from './modules/experiments/index.ts';
import { createLocalizationService, localizationRoutes } from './modules/localization/index.ts';
import { aiRoutes, createAiService, type Retriever } from './modules/ai/index.ts';
import { assistantRoutes, createAssistantService, expandQuery } from './modules/assistant/index.ts';
import { createImpersonationService, impersonationRoutes } from './modules/impersonation/index.ts';
import {
  createIngestion,
  createKnowledgeService,
  createParser,
  createRetriever,
  type Embedder,
  knowledgeRoutes,
  searchRoutes,
} from './modules/knowledge/index.ts';
import { createSsoService, ssoConfigRoutes, ssoLoginRoutes } from './modules/sso/index.ts';
import { accountAuthRoutes, accountRoutes, createAccountService } from './modules/accounts/index.ts';
import { createMailService, operatorMailRoutes } from './modules/mail/index.ts';
import { insertSecurityEvent, securityEventRoutes } from './modules/security-events/index.ts';
import { createThreatService, threatRoutes } from './modules/threats/index.ts';
import {
  assertTenantUsable,
  createTenantDirectory,
  createTenantService,
  operatorTenantRoutes,
  tenantSelfRoutes,
} from './modules/tenants/index.ts';
import type { RouteAuth } from './modules/access/index.ts';
import type { Config } from './platform/config.ts';
import type { Database, Tx } from './platform/db/database.ts';
import { AppError } from './platform/errors.ts';
import { localizedErrorHandler, notFoundHandler } from './platform/http/error-handler.ts';
import './platform/http/request-context.ts';
import { createInvalidationBus } from './platform/invalidation.ts';
import { createJobRunner } from './platform/jobs.ts';
import { createLocalPubSub, createRedisPubSub, type PubSub } from './platform/pubsub.ts';

export type BuildOptions = {
  config: Config;
  db: Database;
  /** Pino options, or false for silence (tests). */
  logger?: FastifyServerOptions['logger'];
  /** Poll the job queue in the background (the server does; tests drain it by hand). */
  runJobs?: boolean;
  /** DNS TXT lookups for custom-domain verification (default: the system resolver); tests inject a fake. */
  resolveTxt?: TxtResolver;
  /** Where configuration rollouts read request outcomes (default: this node's onResponse counts); tests inject their own. */
  configErrorSource?: RequestErrorSource;
  /** Knowledge retrieval for the assistant; default: the knowledge module's hybrid retriever. */
  retriever?: Retriever;
  /** Embeddings for ingestion and queries (default: the tenant's AI provider, `ai.embedder`); tests inject a deterministic fake. */
  embedder?: Embedder;
  /** Milliseconds since the epoch for session lifetimes, step-up and TOTP steps; tests inject a clock. */
  clock?: () => number;
  /** Sends email one-time codes of adaptive MFA (the mail module); without one such a login is refused. */
  sendOneTimeCode?: SendOneTimeCode;
};

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Body schemas are strict (no coercion, unknown fields refused); query and params are coerced. */
function validatorFactory() {
  const pool = AjvCompiler();
  return (external: Record<string, never>, options: { customOptions?: Record<string, unknown> }) => {
    const strict = pool(external, { ...options, customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true } });
    const lenient = pool(external, { ...options, customOptions: { coerceTypes: 'array', removeAdditional: false, useDefaults: true } });
    return (route: { httpPart?: string }) => (route.httpPart === 'body' ? strict(route) : lenient(route));
  };
}

/** Builds the whole application around a database; `main.ts` listens, tests call `inject`. */
export async function buildApp(options: BuildOptions) {
  const { config } = options;
  // Every service gets the audited door: inside a request that may change data, each tenant
  // transaction that changed something commits with its audit entry (src/modules/audit).
  const db = auditedDatabase(options.db, buildEntry);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: config.bodyLimit,
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.requestTimeoutMs,
    keepAliveTimeout: 5000,
    routerOptions: { maxParamLength: 200 },
    trustProxy: config.trustProxy,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    schemaController: { compilersFactory: { buildValidator: validatorFactory() as never } },
    ajv: { customOptions: {} },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Bodies are JSON only: Fastify's built-in text/plain parser would let a string body through (415, T39).
  app.removeContentTypeParser('text/plain');

  const log = app.log;
  const pubsub: PubSub = config.redisUrl
    ? createRedisPubSub(config.redisUrl, (error) => log.warn({ err: error }, 'redis pub/sub error'))
    : createLocalPubSub();
  const bus = createInvalidationBus(pubsub, (error) => log.warn({ err: error }, 'invalidation not broadcast'));
  await bus.start();

  const passwords = createPasswordHasher(config.argon2, config.passwordHashing);
  const tokens = await createTokenService({ db, masterKey: config.masterKey, issuer: config.issuer });
  const directory = createTenantDirectory({ db, bus });
  // Background work is picked by tier: an enterprise tenant's jobs run before a basic tenant's.
  const jobs = createJobRunner(
    db,
    log,
    config.jobPollMs,
    async (tx, tenantId) => {
      const tenant = await directory.getWithin(tx, tenantId);
      return tenant?.limits.jobPriority ?? 100;
    },
    { staleLockSeconds: config.jobStaleSeconds },
  );
  // Usage alerts for seats are written in the transaction that takes the seat (set below).
  let onSeatsUsed: ((tx: Tx, tenantId: string, used: number, limit: number | null) => Promise<void>) | undefined;
  const users = createUserService({
    db,
    bus,
    passwords,
    directory,
    onSeatsUsed: (tx, tenantId, used, limit) => onSeatsUsed?.(tx, tenantId, used, limit) ?? Promise.resolve(),
    requireRecentAuth: (actor) => stepUp.assertRecent(actor),
  });
  const tenants = createTenantService({
    db,
    bus,
    jobs,
    offboardGraceDays: config.offboardGraceDays,
    prepareOwner: async (tenant, owner) => ({
      email: owner.email,
      name: owner.name,
      passwordHash: await users.preparePassword(owner.password, owner.email.toLowerCase(), tenant),
    }),
    createOwner: (tx, tenantId, owner) => users.insertOwner(tx, tenantId, owner),
  });
  // Threat detection: login throttling, anomaly detection and its automatic responses (F-B7).
  const threats = createThreatService({
    db,
    bus,
    log,
    options: { redisUrl: config.redisUrl, redisPrefix: config.redisPrefix, ...config.threats },
  });
  const auth = createAuthService({
    db,
    bus,
    tokens,
    passwords,
    directory,
    accessTtlSeconds: config.accessTokenTtlSeconds,
    refreshTtlSeconds: config.refreshTokenTtlSeconds,
    // Second factor and session lifetimes from the tenant's security policy (set up below).
    loginPolicy: { afterPassword: (input) => mfa.afterPassword(input), sessionLifetime: (tenantId) => sessionLifetime(tenantId) },
    clock: options.clock,
    assertPasswordLoginAllowed: (tenantId, user, client) => sso.assertPasswordLoginAllowed(tenantId, user, client),
    loginProtection: threats.login,
  });
  const apiKeys = createApiKeyService({
    db,
    bus,
    log,
    cacheTtlMs: config.apiKeyCacheTtlMs,
    requireRecentAuth: (principal) => stepUp.assertRecent(principal),
  });
  const sso = createSsoService({
    db,
    bus,
    directory,
    auth,
    users,
    masterKey: config.masterKey,
    publicUrl: config.publicUrl,
    allowHttp: config.ssoAllowHttp,
    mfaRequired: (tenantId, roleKey) => mfa.requiredFor(tenantId, roleKey),
  });
  const impersonation = createImpersonationService({ db, tokens, directory });
  const operators = createOperatorService({ db, tokens, passwords, ttlSeconds: config.accessTokenTtlSeconds });
  const localization = createLocalizationService({ db, bus, tenants });
  const experiments = createExperimentService({ db });
  const domains = createDomainService({
    db,
    bus,
    directory,
    log,
    resolveTxt: options.resolveTxt ?? systemTxtResolver(),
    baseDomain: config.baseDomain,
  });
  const branding = createBrandingService({ db, bus, directory, tenants, domains });

  await tenants.ensureBuiltinTiers();

  const audit = createAuditService({
    db: options.db,
    log,
    jobs,
    async retentionDays() {
      const out: Array<{ tenantId: string; days: number }> = [];
      let after: string | null = null;
      for (;;) {
        const page = await tenants.list({ after, limit: 500 });
        for (const tenant of page) {
          if (tenant.status !== 'deleted') out.push({ tenantId: tenant.id, days: tenant.limits.auditRetentionDays });
        }
        if (page.length < 500) return out;
        after = page.at(-1)?.id ?? null;
      }
    },
  });

  const usage = createUsageService({ db, directory });
  usage.registerGauge('seats', (tx) => users.countActive(tx));
  onSeatsUsed = (tx, tenantId, used, limit) => usage.checkAlerts(tx, tenantId, 'seats', used, limit);
  usage.registerGauge('custom_roles', async (tx) => {
    const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM roles WHERE NOT builtin');
    return rows[0]?.n ?? 0;
  });
  // Custom roles (F-B5): the tier's limit is enforced where a role is made; alerts at 80% and 100%.
  const roles = createRoleService({
    db,
    bus,
    async customRoleLimit(tx, tenantId) {
      const tenant = await directory.getWithin(tx, tenantId);
      return tenant?.limits.customRoles ?? 0;
    },
    onCustomRolesUsed: (tx, tenantId, used, limit) => usage.checkAlerts(tx, tenantId, 'custom_roles', used, limit),
  });
  const routeCatalogue = createRouteCatalogue();
  const conditions = createConditionGuard({ db });
  registerBuiltinLoaders(conditions);
  const meter = createApiCallMeter({
    db,
    log,
    flushMs: config.usageFlushMs,
    onFlushed: async (tenantId, total) => {
      const tenant = await directory.get(tenantId);
      const limit = tenant?.limits.apiCallsPerMonth ?? null;
      // A transaction only for tenants past 80% of their quota: alerts are recorded once per period.
      if (limit === null || total * 100 < limit * 80) return;
      await db.withTenant(tenantId, (tx) => usage.checkAlerts(tx, tenantId, 'api_calls', total, limit));
    },
  });
  const limiter = createRateLimiter({ redisUrl: config.redisUrl, log });
  const mail = createMailService({ db, jobs, log, masterKey: config.masterKey, smtpUrl: config.smtpUrl, from: config.mailFrom });
  const accounts = createAccountService({
    db,
    bus,
    log,
    mail,
    users,
    tenants,
    directory,
    passwords,
    limiter,
    publicUrl: config.publicUrl,
    signup: config.signup,
    signupPerMinute: config.signupPerMinute,
  });

  // Configuration engine: the effective configuration of each tenant is cached per node and dropped
  // on every node through the bus; rollouts watch the 5xx share of tenant requests counted below.
  const requestErrors = createRequestErrorTracker();
  const configuration = createConfigService({ db, bus, log, errors: options.configErrorSource ?? requestErrors });
  await configuration.ensureBuiltins();

  // AI provider per tenant (keys sealed under the master key) and the assistant.
  const ai = createAiService({
    db,
    masterKey: config.masterKey,
    usage,
    directory,
    options: { timeoutMs: config.aiTimeoutMs, allowPrivateUrls: config.aiAllowPrivateUrls },
  });
  // Knowledge retrieval (issue 6, F-E2): hybrid per tenant, reranked by the tenant's chat model when configured.
  const knowledgeRetriever = createRetriever({
    db,
    config: configuration,
    embedder: options.embedder ?? ai.embedder,
    chatModel: async (tenantId) => {
      const settings = await ai.settingsFor(tenantId);
      return settings ? ai.languageModel(settings) : null;
    },
    recordLlmTokens: (tenantId, tokens) => db.withTenant(tenantId, (tx) => ai.recordLlmTokens(tx, tenantId, tokens)),
    rerankTimeoutMs: config.aiTimeoutMs,
    exactSearchMaxVectors: config.knowledge.exactSearchMaxVectors,
  });
  const assistant = createAssistantService({ db, ai, retriever: options.retriever ?? knowledgeRetriever, config: configuration });
  // Sessions in depth, step-up and second factors (F-B2, F-B3), under the tenant's `security.*` policy.
  const security = async (tenantId: string) => (await configuration.get(tenantId)).security;
  const sessionLifetime = async (tenantId: string) => {
    const policy = await security(tenantId);
    return { idleMs: policy.sessionIdleMinutes * 60_000, absoluteMs: policy.sessionAbsoluteMinutes * 60_000 };
  };
  const stepUp = createStepUp({ maxAgeMinutes: async (tenantId) => (await security(tenantId)).stepUpMinutes, clock: options.clock });
  const sessions = createSessionService({ db, bus, lifetime: sessionLifetime, clock: options.clock });
  const mfa = createMfaService({
    db,
    bus,
    directory,
    passwords,
    masterKey: config.masterKey,
    security,
    stepUp,
    openSession: (tenantId, userId, client, amr) => auth.openSession(tenantId, userId, client, amr),
    // Adaptive MFA's email code goes through the mail outbox, in the transaction of the challenge.
    sendOneTimeCode:
      options.sendOneTimeCode ??
      (async (tx, message) => {
        const user = await findUserById(tx, message.userId);
        await mail.enqueue(tx, {
          tenantId: message.tenantId,
          to: message.email,
          userId: message.userId,
          locale: message.locale,
          template: 'sign_in_code',
          data: { name: user?.name ?? message.email, code: message.code, expiresAt: new Date(Date.now() + 10 * 60_000) },
        });
      }),
    clock: options.clock,
  });

  const guard = createGuard({
    apiKeyPrefix: API_KEY_PREFIX,
    resolveApiKey: apiKeys.resolve,
    resolveAccessToken: (token) =>
      impersonation.isImpersonationToken(token) ? impersonation.resolve(token) : auth.resolveAccessToken(token),
    resolveOperator: operators.resolve,
    async assertTenantActive(tenantId) {
      const tenant = await directory.get(tenantId);
      if (!tenant) throw new AppError('invalid_token', 'the credential is not valid, expired or revoked');
      assertTenantUsable(tenant);
      return tenant;
    },
    admit: createAdmission({ limiter, meter, directory }),
    async recordTenantMismatch(request, principal, claimed) {
      await db.withTenant(principal.tenantId, (tx) =>
        insertSecurityEvent(tx, {
          tenantId: principal.tenantId,
          type: 'tenant_mismatch',
          severity: 'high',
          actorType: principal.kind,
          actorId: principal.kind === 'user' ? principal.userId : principal.apiKeyId,
          ip: request.ip,
          requestId: request.id,
          details: { claimedTenant: claimed.slice(0, 100), method: request.method, route: request.routeOptions.url },
        }),
      );
      request.log.warn({ claimed: claimed.slice(0, 100) }, 'X-Tenant-ID disagrees with the credential');
    },
  });

  // Every route declares who may call it. A route without a declaration fails the build (fail closed).
  app.addHook('onRoute', (route) => {
    const url = route.url ?? '';
    const isDocs = url === '/docs' || url.startsWith('/docs/');
    // CORS preflight (OPTIONS *) and the docs UI carry no data.
    if (isDocs || route.method === 'OPTIONS') {
      route.config = { ...(route.config ?? {}), auth: { kind: 'public' } };
      return;
    }
    const auth = (route.config as { auth?: { kind: string } } | undefined)?.auth;
    if (!auth) throw new Error(`route ${route.method} ${url} declares no auth`);
    routeCatalogue.add(route.method, url, auth as RouteAuth);
    if (auth.kind !== 'public' && route.schema) {
      route.schema = { ...route.schema, security: [{ bearer: [] }] } as typeof route.schema;
    }
  });

  await app.register(helmet, { global: true, contentSecurityPolicy: false });
  await app.register(cors, { origin: false });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Palazzo API',
        version: '0.1.0',
        description:
          'Multi-tenant AI-assistant and CRM platform. Authenticate with `Authorization: Bearer <access token or API key>`. Errors are RFC 9457 problem details with a stable `code`.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Problem titles in the caller's language: the user's locale, then Accept-Language, then the tenant's.
  app.setErrorHandler(localizedErrorHandler((request) => localization.messageLocale(request)));
  app.setNotFoundHandler(notFoundHandler);
  app.addHook('onRequest', audit.hooks.onRequest);
  app.addHook('onResponse', audit.hooks.onResponse);
  app.addHook('preValidation', guard);
  // Attribute conditions need the validated body and params, so they run after validation.
  app.addHook('preHandler', conditions.check);
  // Refusals feed the anomaly detector (in memory); only errors pass here.
  app.addHook('onError', threats.onError);
  // PALAZZO_METERING=off (benchmark B8's baseline) leaves the metering hook out.
  if (config.metering) {
    app.addHook('onResponse', async (request, reply) => {
      // Metering: every answered tenant request counts as an API call, except refusals for rate.
      const principal = request.principal;
      if (principal && principal.kind !== 'operator' && reply.statusCode !== 429) {
        meter.record(principal.tenantId, routeGroup(request.routeOptions.url));
      }
    });
  }
  app.addHook('onResponse', async (request, reply) => {
    // Configuration rollouts: answered tenant requests and their 5xx, per tenant, in memory on this node.
    const principal = request.principal;
    if (principal && principal.kind !== 'operator') requestErrors.record(principal.tenantId, reply.statusCode);
  });
  // One hook for every response, errors included: the request id, and no caching of anything
  // answered to a credential (T44). Synchronous, so it adds no promise to the request.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    if (request.principal || request.headers.authorization) reply.header('cache-control', 'no-store');
    done(null, payload);
  });

  app.get('/openapi.json', { config: { auth: { kind: 'public' } }, schema: { hide: true } }, async () => app.swagger());
  app.get('/', { config: { auth: { kind: 'public' } }, schema: { hide: true } }, async (_request, reply) => reply.redirect('/docs'));

  await app.register(healthRoutes({ db, degraded: () => ({ rateLimiter: limiter.status() }) }));
  await app.register(authRoutes({ auth, tokens }));
  await app.register(meRoutes({ users, directory }));
  await app.register(userRoutes(users));
  await app.register(roleRoutes({ roles, catalogue: routeCatalogue }));
  await app.register(threatRoutes(threats));
  await app.register(apiKeyRoutes(apiKeys));
  await app.register(securityEventRoutes({ db }));
  await app.register(tenantSelfRoutes(tenants));
  await app.register(operatorAuthRoutes(operators));
  await app.register(operatorTenantRoutes(tenants));
  await app.register(usageRoutes({ usage, meter, tenants }));
  await app.register(localizationRoutes(localization));
  await app.register(experimentRoutes({ experiments, localization }));
  await app.register(domainRoutes(domains));
  await app.register(brandingRoutes({ branding, localization }));
  await app.register(configRoutes(configuration));
  await app.register(auditRoutes(audit));
  await app.register(aiRoutes(ai));
  await app.register(assistantRoutes({ assistant, localization }));
  await app.register(
    searchRoutes({
      retriever: knowledgeRetriever,
      expand: async (tenantId, query) => expandQuery(query, await assistant.getVocabulary(tenantId)),
    }),
  );
  await app.register(sessionRoutes(sessions));
  await app.register(mfaRoutes(mfa));
  await app.register(ssoConfigRoutes(sso));
  await app.register(ssoLoginRoutes(sso));
  await app.register(impersonationRoutes(impersonation));
  await app.register(accountAuthRoutes(accounts));
  await app.register(accountRoutes(accounts));
  await app.register(operatorMailRoutes(mail));

  // Knowledge bases, documents and ingestion (issue 6, F-E1). Documents are parsed in a worker thread
  // under time and memory limits; ingestion is a durable job (knowledge.ingest). On embedded PGlite this
  // process alone works the queue, so jobs a crash left running are requeued at once (T33).
  const parser = createParser({ timeoutMs: config.knowledge.parseTimeoutMs, memoryMb: config.knowledge.parseMemoryMb });
  const chunkDefaults = async (tenantId: string) => {
    const { retrieval } = await configuration.get(tenantId);
    return { size: retrieval.chunkSize, overlap: retrieval.chunkOverlap };
  };
  const knowledge = createKnowledgeService({
    db,
    jobs,
    directory,
    tenantLocale: async (principal) => (await localization.preferences(principal)).tenant.locale ?? undefined,
    onUsed: (tx, tenantId, metric, used, limit) => usage.checkAlerts(tx, tenantId, metric, used, limit),
    chunkDefaults,
    onBackgroundError: (error, tenantId) => log.warn({ err: error, tenantId }, 'knowledge re-index after a configuration change failed'),
  });
  createIngestion({ db, jobs, parser, log, embedder: options.embedder ?? ai.embedder, chunkDefaults });
  // A change of the tenant's chunking configuration re-indexes the documents chunked otherwise.
  bus.on((event) => {
    if (event.type === 'config' && event.scope === 'tenant') knowledge.configChanged(event.tenantId);
  });
  usage.registerGauge('knowledge_bases', knowledge.gauges.knowledgeBases);
  usage.registerGauge('documents', knowledge.gauges.documents);
  usage.registerGauge('storage_bytes', knowledge.gauges.storageBytes);
  await app.register(knowledgeRoutes({ knowledge, maxFileBytes: config.knowledge.maxFileBytes }));
  app.addHook('onClose', async () => {
    knowledge.close();
    await parser.close();
  });
  if (options.runJobs && options.db.kind === 'pglite') await jobs.requeueAbandoned();

  app.addHook('onClose', async () => {
    await jobs.stop();
    await accounts.settle();
    await mail.close();
    configuration.close();
    await apiKeys.close();
    await threats.close();
    await meter.close();
    await limiter.close();
    await pubsub.close();
  });

  if (options.runJobs) {
    await audit.scheduleRetention();
    jobs.start();
  }
  await app.ready();
  return {
    app,
    services: {
      tenants,
      users,
      auth,
      apiKeys,
      operators,
      tokens,
      jobs,
      directory,
      bus,
      passwords,
      usage,
      meter,
      limiter,
      config: configuration,
      requestErrors,
      audit,
      ai,
      assistant,
      sessions,
      mfa,
      stepUp,
      sso,
      impersonation,
      roles,
      threats,
      mail,
      accounts,
      knowledge,
    },
  };
}

export type Palazzo = Awaited<ReturnType<typeof buildApp>>;
export type App = FastifyInstance;
