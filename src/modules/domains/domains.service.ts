import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../../platform/db/database.ts';
import { AppError, assertId, assertThat, conflict, notFound } from '../../platform/errors.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import type { TenantDirectory } from '../tenants/index.ts';
import type { TxtResolver } from './dns.ts';
import * as repo from './domains.repo.ts';
import { normalizeHostname, requestHostname } from './hostnames.ts';

/** Where the proof goes: a TXT record on a name of its own, so it never collides with SPF and the like. */
export const CHALLENGE_PREFIX = '_palazzo-verification';
export const CHALLENGE_VALUE_PREFIX = 'palazzo-verification=';
const LOOKUP_DEADLINE_MS = 12_000;

export function challengeOf(row: Pick<repo.DomainRow, 'hostname' | 'token'>) {
  return { type: 'TXT' as const, name: `${CHALLENGE_PREFIX}.${row.hostname}`, value: `${CHALLENGE_VALUE_PREFIX}${row.token}` };
}

const takenByAnother = () =>
  conflict('this hostname is already verified by another tenant; it must be removed there before it can be claimed here');

type Check = { verified: boolean; reason: string | null };

export function createDomainService(deps: {
  db: Database;
  bus: InvalidationBus;
  directory: TenantDirectory;
  resolveTxt: TxtResolver;
  baseDomain: string | undefined;
  log: FastifyBaseLogger;
}) {
  const { db, bus } = deps;
  const baseDomain = deps.baseDomain ? normalizeHostname(deps.baseDomain) : undefined;

  /** Looks the challenge up in DNS; never throws: a failed lookup is a reason the caller can read. */
  async function check(row: repo.DomainRow): Promise<Check> {
    const { name, value } = challengeOf(row);
    let records: string[][];
    try {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('DNS lookup timed out'), { code: 'ETIMEOUT' })), LOOKUP_DEADLINE_MS);
      });
      records = await Promise.race([deps.resolveTxt(name), deadline]).finally(() => clearTimeout(timer));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA' || code === 'NXDOMAIN') {
        return {
          verified: false,
          reason: `no TXT record found at ${name}; publish ${value} and try again (DNS changes can take a while to appear)`,
        };
      }
      deps.log.info({ err: error, name }, 'domain verification lookup failed');
      return { verified: false, reason: `the DNS lookup of ${name} failed (${code ?? 'error'}); try again later` };
    }
    // A TXT record may be split into several character strings; they are one value together.
    const values = records.map((chunks) => chunks.join(''));
    if (values.includes(value)) return { verified: true, reason: null };
    const ours = values.filter((v) => v.startsWith(CHALLENGE_VALUE_PREFIX));
    return {
      verified: false,
      reason: ours.length
        ? `the TXT record at ${name} holds a different verification value; it must be exactly ${value}`
        : `TXT records exist at ${name}, but none is ${value}`,
    };
  }

  return {
    async add(tenantId: string, input: { hostname: string }) {
      const hostname = normalizeHostname(input.hostname);
      assertThat(
        hostname,
        new AppError('validation_failed', 'hostname must be a DNS name such as app.example.com (no scheme, port, path or IP address)', {
          errors: [{ path: 'body/hostname', message: 'is not a valid hostname' }],
        }),
      );
      assertThat(
        !baseDomain || (hostname !== baseDomain && !hostname.endsWith(`.${baseDomain}`)),
        new AppError('validation_failed', `hostnames under ${baseDomain} are the platform's own; each tenant has <slug>.${baseDomain}`, {
          errors: [{ path: 'body/hostname', message: 'is under the platform base domain' }],
        }),
      );
      return db.withTenant(tenantId, async (tx) => {
        const owner = await repo.findHostnameOwner(tx, hostname);
        assertThat(!owner || owner === tenantId, takenByAnother);
        assertThat(!(await repo.findDomainByHostname(tx, hostname)), conflict('this hostname is already added to the tenant'));
        return repo.insertDomain(tx, { tenantId, id: uuidv7(), hostname, token: randomBytes(24).toString('base64url') });
      });
    },

    list(tenantId: string, filter: { after: string | null; limit: number }) {
      return db.withTenant(tenantId, (tx) => repo.listDomains(tx, filter));
    },

    async get(tenantId: string, id: string) {
      assertId(id, 'domain');
      const row = await db.withTenant(tenantId, (tx) => repo.findDomain(tx, id));
      assertThat(row, notFound('domain'));
      return row;
    },

    /**
     * Checks the TXT record and, when it is right, claims the hostname for the tenant. The lookup runs
     * outside any transaction; the claim is atomic, so of two tenants proving the same hostname at once
     * exactly one wins. A verified domain stays verified (no lookup) until it is removed.
     */
    async verify(tenantId: string, id: string) {
      assertId(id, 'domain');
      const row = await db.withTenant(tenantId, (tx) => repo.findDomain(tx, id));
      assertThat(row, notFound('domain'));
      if (row.status === 'verified') return row;
      const result = await check(row);
      const updated = await db.withTenant(tenantId, async (tx) => {
        // Removed while DNS was being asked: answer as for any missing domain.
        assertThat(await repo.findDomain(tx, id), notFound('domain'));
        if (!result.verified) {
          const owner = await repo.findHostnameOwner(tx, row.hostname);
          const reason = owner && owner !== tenantId ? 'this hostname is already verified by another tenant' : result.reason;
          return repo.recordCheck(tx, id, { verified: false, reason });
        }
        const owner = await repo.claimHostname(tx, { hostname: row.hostname, tenantId, domainId: id });
        assertThat(owner === tenantId, takenByAnother);
        return repo.recordCheck(tx, id, { verified: true, reason: null });
      });
      if (updated.status === 'verified') await bus.publish({ type: 'tenant', tenantId });
      return updated;
    },

    async remove(tenantId: string, id: string) {
      assertId(id, 'domain');
      // verified_domains follows by ON DELETE CASCADE: the hostname is free again at once.
      const row = await db.withTenant(tenantId, (tx) => repo.deleteDomain(tx, id));
      assertThat(row, notFound('domain'));
      await bus.publish({ type: 'tenant', tenantId });
    },

    /**
     * The tenant a public page belongs to, from the request's host: a verified custom domain, or
     * `<slug>.<base domain>` when a base domain is configured. Only active tenants have public pages.
     */
    async tenantForHost(host: string | undefined): Promise<string | undefined> {
      const hostname = requestHostname(host);
      if (!hostname) return undefined;
      let tenantId = await db.withControlPlane((tx) => repo.findHostnameOwner(tx, hostname));
      if (!tenantId && baseDomain && hostname.endsWith(`.${baseDomain}`)) {
        const slug = hostname.slice(0, -(baseDomain.length + 1));
        if (!slug.includes('.')) tenantId = (await deps.directory.getBySlug(slug))?.id;
      }
      if (!tenantId) return undefined;
      const tenant = await deps.directory.get(tenantId);
      return tenant?.status === 'active' ? tenantId : undefined;
    },

    baseDomain,
  };
}

export type DomainService = ReturnType<typeof createDomainService>;
