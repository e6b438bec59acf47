import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';
import { findRole, OWNER_ROLE, type TenantPrincipal } from '../access/index.ts';
import type { Database, Tx } from '../../platform/db/database.ts';
import { decrypt, encrypt } from '../../platform/crypto.ts';
import { AppError, assertThat, notFound } from '../../platform/errors.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import { mintSecret, parseSecret } from '../../platform/secrets.ts';
import {
  type AuthService,
  type ClientInfo,
  findUserByEmail,
  lockUser,
  type TokenPair,
  updateUser,
  type UserService,
} from '../identity/index.ts';
import { insertSecurityEvent } from '../security-events/index.ts';
import { assertTenantUsable, type TenantDirectory } from '../tenants/index.ts';
import * as repo from './sso.repo.ts';

/** Login state (`pzs_…`) and one-time exchange code (`pzc_…`) carry their tenant like refresh tokens. */
export const STATE_PREFIX = 'pzs';
export const CODE_PREFIX = 'pzc';
const STATE_TTL_MS = 10 * 60_000;
const CODE_TTL_MS = 60_000;
/** Provider metadata and keys are re-discovered at most this often per tenant and configuration. */
const DISCOVERY_TTL_MS = 10 * 60_000;
const PROVIDER_TIMEOUT_S = 10;
const DEFAULT_SCOPES = ['openid', 'email', 'profile'];

export type ConnectionInput = {
  issuer: string;
  clientId: string;
  clientSecret?: string | null;
  scopes?: string[];
  allowedDomains?: string[];
  roleMappings?: repo.RoleMapping[];
  defaultRole?: string;
  enforced?: boolean;
  linkExistingByEmail?: boolean;
  returnUrls?: string[];
};

export type CallbackResult = { kind: 'tokens'; tokens: TokenPair } | { kind: 'redirect'; location: string };

/** Why a callback was refused: recorded with the security event, never shown beyond `sso_failed`. */
class SsoRefusal extends Error {
  constructor(
    readonly reason: string,
    readonly answer: AppError,
    readonly details: Record<string, unknown> = {},
  ) {
    super(reason);
  }
}

const failed = (detail = 'the single sign-on response was not accepted') => new AppError('sso_failed', detail);

const invalidField = (path: string, message: string) =>
  new AppError('validation_failed', `${path.replace('body/', '')}: ${message}`, { errors: [{ path, message }] });

/** A claim matches a mapping when it equals the value, or is a list that contains it. */
function claimMatches(claim: unknown, value: string): boolean {
  if (Array.isArray(claim)) return claim.some((item) => String(item) === value);
  if (typeof claim === 'string' || typeof claim === 'number' || typeof claim === 'boolean') return String(claim) === value;
  return false;
}

/**
 * Authentication methods (RFC 8176) that are a second factor, possession or inherence; `mfa` says
 * so outright. An ID token whose `amr` holds one of them, or whose `acr` is a multi-factor policy,
 * asserts multi-factor authentication.
 */
const MFA_METHODS = new Set(['mfa', 'otp', 'hwk', 'swk', 'sc', 'sms', 'tel', 'fpt', 'face', 'iris', 'retina', 'vbm']);
const MFA_ACR = new Set([
  'http://schemas.openid.net/pape/policies/2007/06/multi-factor',
  'http://schemas.openid.net/pape/policies/2007/06/multi-factor-physical',
]);

const AUTHENTICATION_CLAIMS = JSON.stringify({ id_token: { amr: null, acr: null } });

export function authenticationOf(claims: Record<string, unknown>): { amr: string[]; acr: string | null; multiFactor: boolean } {
  const amr = Array.isArray(claims.amr) ? claims.amr.filter((v): v is string => typeof v === 'string').slice(0, 20) : [];
  const acr = typeof claims.acr === 'string' ? claims.acr.slice(0, 200) : null;
  return { amr, acr, multiFactor: amr.some((method) => MFA_METHODS.has(method)) || (acr !== null && MFA_ACR.has(acr)) };
}

export function mappedRole(connection: Pick<repo.ConnectionRow, 'role_mappings' | 'default_role'>, claims: Record<string, unknown>) {
  for (const mapping of connection.role_mappings) {
    if (claimMatches(claims[mapping.claim], mapping.value)) return mapping.role;
  }
  return connection.default_role;
}

export function createSsoService(deps: {
  db: Database;
  bus: InvalidationBus;
  directory: TenantDirectory;
  auth: AuthService;
  users: UserService;
  masterKey: Buffer;
  publicUrl: string;
  allowHttp: boolean;
  /** Whether the tenant's MFA policy requires a second factor of this role (the MFA module's). */
  mfaRequired?: (tenantId: string, roleKey: string) => Promise<boolean>;
}) {
  const { db, bus, directory, masterKey } = deps;
  const redirectUri = `${deps.publicUrl}/v1/auth/sso/callback`;
  const discovered = new LRUCache<string, oidc.Configuration>({ max: 1000, ttl: DISCOVERY_TTL_MS });

  const secretAad = (tenantId: string) => `sso-client-secret:${tenantId}`;
  const verifierAad = (tenantId: string) => `sso-pkce:${tenantId}`;

  function toView(row: repo.ConnectionRow, tenant: { slug: string; limits: { ssoAllowed: boolean } }) {
    return {
      issuer: row.issuer,
      clientId: row.client_id,
      hasClientSecret: row.client_secret_sealed !== null,
      scopes: row.scopes,
      allowedDomains: row.allowed_domains,
      roleMappings: row.role_mappings,
      defaultRole: row.default_role,
      enforced: row.enforced,
      linkExistingByEmail: row.link_existing_by_email,
      returnUrls: row.return_urls,
      redirectUri,
      ssoAllowed: tenant.limits.ssoAllowed,
      loginUrl: `${deps.publicUrl}/v1/auth/sso/${tenant.slug}/start`,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  }

  async function tenantOf(tenantId: string) {
    const tenant = await directory.get(tenantId);
    if (!tenant) throw new Error(`tenant ${tenantId} vanished`);
    return tenant;
  }

  function checkUrl(raw: string, path: string): string {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw invalidField(path, 'not a valid URL');
    }
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && deps.allowHttp)) {
      throw invalidField(path, deps.allowHttp ? 'must use http or https' : 'must use https');
    }
    if (parsed.hash || parsed.username || parsed.password) throw invalidField(path, 'must have no fragment and no credentials');
    return parsed.href;
  }

  async function assertAssignableRole(tx: Tx, key: string, path: string) {
    assertThat(key !== OWNER_ROLE, invalidField(path, 'single sign-on never grants the owner role'));
    assertThat(await findRole(tx, key), invalidField(path, `role "${key}" does not exist`));
  }

  /** The provider's configuration for this connection, discovered once and cached per node. */
  async function providerOf(tenantId: string, connection: repo.ConnectionRow): Promise<oidc.Configuration> {
    const key = `${tenantId}|${connection.updated_at.getTime()}`;
    const cached = discovered.get(key);
    if (cached) return cached;
    const secret = connection.client_secret_sealed ? decrypt(masterKey, connection.client_secret_sealed, secretAad(tenantId)) : undefined;
    const config = await oidc.discovery(
      new URL(connection.issuer),
      connection.client_id,
      secret,
      secret ? oidc.ClientSecretPost(secret) : oidc.None(),
      { execute: deps.allowHttp ? [oidc.allowInsecureRequests] : [], timeout: PROVIDER_TIMEOUT_S },
    );
    // ID token signatures are verified even though the token comes straight from the token
    // endpoint (OpenID Connect would let TLS stand in for them): a provider's key, not only its
    // TLS certificate, vouches for every identity (T17).
    oidc.enableNonRepudiationChecks(config);
    discovered.set(key, config);
    return config;
  }

  async function recordEvent(
    tenantId: string,
    client: ClientInfo,
    event: { type: string; severity: 'info' | 'low' | 'medium' | 'high'; actorId?: string | null; details: Record<string, unknown> },
  ) {
    await db.withTenant(tenantId, (tx) =>
      insertSecurityEvent(tx, {
        tenantId,
        type: event.type,
        severity: event.severity,
        actorType: event.actorId ? 'user' : null,
        actorId: event.actorId ?? null,
        ip: client.ip,
        requestId: client.requestId,
        details: event.details,
      }),
    );
  }

  /** Finds or creates the user of a verified identity, in one tenant transaction. */
  async function resolveUser(
    tenantId: string,
    connection: repo.ConnectionRow,
    issuer: string,
    claims: Record<string, unknown>,
  ): Promise<{ userId: string; created: boolean; roleChanged: boolean; roleKey: string }> {
    const subject = String(claims.sub ?? '');
    const email = typeof claims.email === 'string' ? claims.email.trim().toLowerCase() : '';
    if (!subject || subject.length > 255) throw new SsoRefusal('missing_subject', failed());
    if (!/^[^@\s]+@[^@\s]+$/.test(email) || email.length > 254) {
      throw new SsoRefusal('missing_email', failed('the provider did not assert an email address'));
    }
    if (claims.email_verified === false) throw new SsoRefusal('email_not_verified', failed('the provider says the email is not verified'));
    const domain = email.slice(email.lastIndexOf('@') + 1);
    if (connection.allowed_domains.length > 0 && !connection.allowed_domains.includes(domain)) {
      throw new SsoRefusal('email_domain_not_allowed', new AppError('sso_email_not_allowed', `the domain ${domain} is not allowed`), {
        domain,
      });
    }
    const role = mappedRole(connection, claims);
    const name = typeof claims.name === 'string' && claims.name.trim() ? claims.name.trim().slice(0, 200) : email;

    return db.withTenant(tenantId, async (tx) => {
      const identity = await repo.findIdentity(tx, issuer, subject);
      if (identity) {
        const user = await lockUser(tx, identity.user_id);
        if (!user || user.status !== 'active') throw new SsoRefusal('user_deactivated', failed('this account is deactivated'));
        await repo.touchIdentity(tx, issuer, subject, email);
        // The provider is the source of truth for roles, except for owners (changed only by owners).
        const roleChanged = user.role_key !== OWNER_ROLE && user.role_key !== role;
        if (roleChanged) await updateUser(tx, user.id, { roleKey: role });
        return { userId: user.id, created: false, roleChanged, roleKey: user.role_key === OWNER_ROLE ? OWNER_ROLE : role };
      }
      const existing = await findUserByEmail(tx, email);
      if (existing) {
        // Identities are keyed on (issuer, subject): an email alone never takes over an account,
        // unless the tenant opted in and the account has no SSO identity yet.
        const linkable =
          connection.link_existing_by_email && existing.status === 'active' && (await repo.countIdentitiesOfUser(tx, existing.id)) === 0;
        if (!linkable) {
          throw new SsoRefusal('account_conflict', failed('an account with this email exists and is not linked to this provider'), {
            userId: existing.id,
          });
        }
        await repo.insertIdentity(tx, { tenantId, issuer, subject, userId: existing.id, email });
        return { userId: existing.id, created: false, roleChanged: false, roleKey: existing.role_key };
      }
      const created = await deps.users.insertExternalUser(tx, tenantId, { email, name, roleKey: role });
      await repo.insertIdentity(tx, { tenantId, issuer, subject, userId: created.id, email });
      return { userId: created.id, created: true, roleChanged: false, roleKey: role };
    });
  }

  return {
    redirectUri,

    async get(tenantId: string) {
      const tenant = await tenantOf(tenantId);
      const row = await db.withTenant(tenantId, (tx) => repo.findConnection(tx));
      assertThat(row, notFound('SSO configuration'));
      return toView(row, tenant);
    },

    async put(actor: TenantPrincipal, input: ConnectionInput) {
      const tenant = await tenantOf(actor.tenantId);
      assertThat(tenant.limits.ssoAllowed, new AppError('sso_not_available', `the ${tenant.tier} tier does not include single sign-on`));
      // Stored as given: discovery compares it with the provider's own `issuer` (URL-normalised).
      const issuer = input.issuer;
      assertThat(!new URL(checkUrl(issuer, 'body/issuer')).search, invalidField('body/issuer', 'must have no query'));
      const returnUrls = (input.returnUrls ?? []).map((url, i) => checkUrl(url, `body/returnUrls/${i}`));
      const scopes = input.scopes ?? DEFAULT_SCOPES;
      assertThat(scopes.includes('openid'), invalidField('body/scopes', 'must include openid'));
      const allowedDomains = (input.allowedDomains ?? []).map((d) => d.toLowerCase().replace(/\.$/, ''));
      const defaultRole = input.defaultRole ?? 'member';
      const row = await db.withTenant(actor.tenantId, async (tx) => {
        await assertAssignableRole(tx, defaultRole, 'body/defaultRole');
        for (const [i, mapping] of (input.roleMappings ?? []).entries()) {
          await assertAssignableRole(tx, mapping.role, `body/roleMappings/${i}/role`);
        }
        const current = await repo.findConnection(tx);
        const sealed =
          input.clientSecret === undefined
            ? (current?.client_secret_sealed ?? null)
            : input.clientSecret === null
              ? null
              : encrypt(masterKey, input.clientSecret, secretAad(actor.tenantId));
        const { row } = await repo.upsertConnection(tx, actor.tenantId, {
          issuer,
          client_id: input.clientId,
          client_secret_sealed: sealed,
          scopes,
          allowed_domains: allowedDomains,
          role_mappings: input.roleMappings ?? [],
          default_role: defaultRole,
          enforced: input.enforced ?? false,
          link_existing_by_email: input.linkExistingByEmail ?? false,
          return_urls: returnUrls,
        });
        return row;
      });
      return toView(row, tenant);
    },

    async remove(tenantId: string) {
      const deleted = await db.withTenant(tenantId, (tx) => repo.deleteConnection(tx));
      assertThat(deleted, notFound('SSO configuration'));
    },

    /** Builds the provider's authorization URL: code flow, PKCE S256, state and nonce kept here. */
    async start(slug: string, returnUrl: string | undefined): Promise<string> {
      const tenant = await directory.getBySlug(slug.toLowerCase());
      const connection = tenant ? await db.withTenant(tenant.id, (tx) => repo.findConnection(tx)) : undefined;
      // An unknown tenant and a tenant without SSO answer alike.
      assertThat(tenant && connection, notFound('SSO configuration'));
      assertTenantUsable(tenant);
      assertThat(tenant.limits.ssoAllowed, new AppError('sso_not_available', `the ${tenant.tier} tier does not include single sign-on`));
      if (returnUrl !== undefined) {
        assertThat(
          connection.return_urls.includes(returnUrl),
          new AppError('validation_failed', 'returnUrl is not one of the configured return URLs', {
            errors: [{ path: 'querystring/returnUrl', message: 'not allowed' }],
          }),
        );
      }
      let provider: oidc.Configuration;
      try {
        provider = await providerOf(tenant.id, connection);
      } catch {
        throw new AppError('service_unavailable', 'the identity provider could not be reached or its metadata is not valid');
      }
      const state = mintSecret(STATE_PREFIX, tenant.id);
      const nonce = oidc.randomNonce();
      const verifier = oidc.randomPKCECodeVerifier();
      await db.withTenant(tenant.id, async (tx) => {
        await repo.deleteStaleLoginStates(tx);
        await repo.insertLoginState(tx, {
          tenantId: tenant.id,
          hash: state.hash,
          nonce,
          verifierSealed: encrypt(masterKey, verifier, verifierAad(tenant.id)),
          issuer: connection.issuer,
          returnUrl: returnUrl ?? null,
          expiresAt: new Date(Date.now() + STATE_TTL_MS),
        });
      });
      const url = oidc.buildAuthorizationUrl(provider, {
        redirect_uri: redirectUri,
        scope: connection.scopes.join(' '),
        response_type: 'code',
        state: state.value,
        nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        // Ask for how the user authenticated (OIDC Core §5.5): the MFA policy is judged on it.
        // Providers that do not support the claims parameter ignore it.
        ...(provider.serverMetadata().claims_parameter_supported ? { claims: AUTHENTICATION_CLAIMS } : {}),
      });
      return url.href;
    },

    /**
     * The provider's redirect back. openid-client checks state, issuer (`iss` and the ID token's),
     * audience, signature, expiry, nonce and PKCE; anything refused is recorded as a security event.
     */
    async callback(rawQuery: string, query: { state?: string }, client: ClientInfo): Promise<CallbackResult> {
      const parsed = query.state ? parseSecret(STATE_PREFIX, query.state) : undefined;
      const tenant = parsed ? await directory.get(parsed.tenantId) : undefined;
      if (!parsed || !tenant) throw failed('the login state is not valid');
      try {
        assertTenantUsable(tenant);
        const state = await db.withTenant(tenant.id, (tx) => repo.consumeLoginState(tx, parsed.hash));
        if (!state) throw new SsoRefusal('unknown_state', failed('the login state is not valid, expired or already used'));
        const connection = await db.withTenant(tenant.id, (tx) => repo.findConnection(tx));
        // The state belongs to the provider it was made for: a changed configuration voids it.
        if (!connection || connection.issuer !== state.issuer) throw new SsoRefusal('configuration_changed', failed());
        if (!tenant.limits.ssoAllowed) throw new SsoRefusal('not_in_tier', new AppError('sso_not_available'));
        let provider: oidc.Configuration;
        try {
          provider = await providerOf(tenant.id, connection);
        } catch (error) {
          throw new SsoRefusal('discovery_failed', new AppError('service_unavailable', 'the identity provider could not be reached'), {
            error: String((error as Error).message).slice(0, 300),
          });
        }
        let claims: Record<string, unknown>;
        try {
          const tokens = await oidc.authorizationCodeGrant(provider, new URL(`${redirectUri}?${rawQuery}`), {
            expectedState: query.state,
            expectedNonce: state.nonce,
            pkceCodeVerifier: decrypt(masterKey, state.code_verifier_sealed, verifierAad(tenant.id)),
            idTokenExpected: true,
          });
          claims = { ...(tokens.claims() ?? {}) };
          if (typeof claims.email !== 'string' && tokens.access_token && provider.serverMetadata().userinfo_endpoint) {
            const info = await oidc.fetchUserInfo(provider, tokens.access_token, String(claims.sub));
            claims = { ...info, ...claims, email: info.email, email_verified: info.email_verified, name: claims.name ?? info.name };
          }
        } catch (error) {
          // openid-client wraps the precise check that failed (claim, signature…) in `cause`.
          const err = error as Error & { code?: string; error?: string; cause?: { message?: string; cause?: { claim?: unknown } } };
          const claim = err.cause?.cause?.claim;
          throw new SsoRefusal('response_rejected', failed(), {
            error: err.code ?? err.name,
            message: String(err.cause?.message ?? err.message).slice(0, 300),
            ...(typeof claim === 'string' ? { claim } : {}),
            ...(err.error ? { providerError: String(err.error).slice(0, 100) } : {}),
          });
        }
        const issuer = provider.serverMetadata().issuer;
        // A role the tenant's MFA policy covers needs the provider to assert a second factor (T17).
        const authentication = authenticationOf(claims);
        const needsMfa = async (roleKey: string) =>
          !authentication.multiFactor && deps.mfaRequired !== undefined && (await deps.mfaRequired(tenant.id, roleKey));
        const refuseSingleFactor = (roleKey: string) =>
          new SsoRefusal(
            'mfa_not_asserted',
            new AppError(
              'sso_mfa_required',
              `the ${roleKey} role needs multi-factor authentication and the identity provider did not report one (amr, acr)`,
            ),
            { role: roleKey, amr: authentication.amr, acr: authentication.acr },
          );
        const intended = mappedRole(connection, claims);
        if (await needsMfa(intended)) throw refuseSingleFactor(intended);
        const { userId, created, roleChanged, roleKey } = await resolveUser(tenant.id, connection, issuer, claims);
        // An existing owner keeps its role whatever the mapping says: judged on the role it has.
        if (roleKey !== intended && (await needsMfa(roleKey))) throw refuseSingleFactor(roleKey);
        if (roleChanged) await bus.publish({ type: 'user', tenantId: tenant.id, userId });
        await recordEvent(tenant.id, client, {
          type: 'sso_login',
          severity: 'info',
          actorId: userId,
          details: { issuer, subject: String(claims.sub), created, amr: authentication.amr, multiFactor: authentication.multiFactor },
        });
        if (!state.return_url) return { kind: 'tokens', tokens: await deps.auth.startSession(tenant.id, userId, client) };
        const code = mintSecret(CODE_PREFIX, tenant.id);
        await db.withTenant(tenant.id, (tx) =>
          repo.insertExchangeCode(tx, { tenantId: tenant.id, hash: code.hash, userId, expiresAt: new Date(Date.now() + CODE_TTL_MS) }),
        );
        const location = new URL(state.return_url);
        location.searchParams.set('code', code.value);
        return { kind: 'redirect', location: location.href };
      } catch (error) {
        if (error instanceof SsoRefusal) {
          await recordEvent(tenant.id, client, {
            type: 'sso_login_failed',
            severity: ['response_rejected', 'unknown_state', 'account_conflict'].includes(error.reason) ? 'high' : 'medium',
            details: { reason: error.reason, ...error.details },
          });
          throw error.answer;
        }
        if (error instanceof AppError && error.code === 'quota_exceeded') {
          await recordEvent(tenant.id, client, { type: 'sso_login_failed', severity: 'low', details: { reason: 'seat_limit' } });
        }
        throw error;
      }
    },

    /** Trades the one-time code of a return URL for the token pair (once, within 60 s). */
    async exchange(code: string, client: ClientInfo): Promise<TokenPair> {
      const invalid = () => new AppError('invalid_grant', 'the code is not valid, expired or already used');
      const parsed = parseSecret(CODE_PREFIX, code);
      assertThat(parsed, invalid);
      const tenant = await directory.get(parsed.tenantId);
      assertThat(tenant, invalid);
      assertTenantUsable(tenant);
      const consumed = await db.withTenant(tenant.id, (tx) => repo.consumeExchangeCode(tx, parsed.hash));
      assertThat(consumed, invalid);
      return deps.auth.startSession(tenant.id, consumed.user_id, client);
    },

    /**
     * Password login when SSO is enforced: refused (sso_required), except for owners, so that a
     * broken provider cannot lock a tenant out (break-glass; every such login is recorded).
     * Enforcement applies only while the tier includes SSO.
     */
    async assertPasswordLoginAllowed(tenantId: string, user: { id: string; role_key: string }, client: ClientInfo) {
      const tenant = await tenantOf(tenantId);
      if (!tenant.limits.ssoAllowed) return;
      const connection = await db.withTenant(tenantId, (tx) => repo.findConnection(tx));
      if (!connection?.enforced) return;
      if (user.role_key === OWNER_ROLE) {
        await recordEvent(tenantId, client, { type: 'sso_break_glass_login', severity: 'medium', actorId: user.id, details: {} });
        return;
      }
      await recordEvent(tenantId, client, {
        type: 'login_failed',
        severity: 'low',
        actorId: user.id,
        details: { reason: 'sso_required' },
      });
      throw new AppError('sso_required', 'this tenant requires single sign-on', {
        loginUrl: `${deps.publicUrl}/v1/auth/sso/${tenant.slug}/start`,
      });
    },
  };
}

export type SsoService = ReturnType<typeof createSsoService>;
