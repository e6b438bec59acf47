import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { APICallError, type EmbeddingModel, embedMany } from 'ai';
import type { Database, Tx } from '../../platform/db/database.ts';
import { AppError, assertThat } from '../../platform/errors.ts';
import { decrypt, encrypt } from '../../platform/crypto.ts';
import type { UsageService } from '../metering/index.ts';
import type { TenantDirectory } from '../tenants/index.ts';
import { embeddingModelOf, languageModelOf, type ProviderFetch, type ProviderKind, type ProviderSettings } from './models.ts';
import type { Embedder } from './ports.ts';
import * as repo from './providers.repo.ts';

export type ProviderInput = {
  kind: ProviderKind;
  baseUrl?: string | null;
  chatModel: string;
  embeddingModel?: string | null;
  /** Absent: keep the stored key. null: remove it. */
  apiKey?: string | null;
  /** Offer the model tools (saving a memory). Default: on, except for OpenAI-compatible servers. */
  toolCalls?: boolean;
};

export type AiOptions = {
  /** Longest wait for any provider call (PALAZZO_AI_TIMEOUT_MS). */
  timeoutMs: number;
  /** Tenants may point an OpenAI-compatible base URL at loopback or private networks (PALAZZO_AI_ALLOW_PRIVATE_URLS). */
  allowPrivateUrls: boolean;
  /** Texts per embedding call. */
  embeddingBatchSize?: number;
  /** Retries of a failed embedding call, with exponential backoff from `retryBaseMs`. */
  embeddingRetries?: number;
  retryBaseMs?: number;
};

const invalid = (path: string, message: string) => new AppError('validation_failed', `${path} ${message}`, { errors: [{ path, message }] });

/** Loopback, private, link-local, CGNAT and unique-local ranges: a tenant's base URL may not reach them unless allowed. */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
  ['198.18.0.0', 15],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addAddress('::', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');
PRIVATE.addSubnet('fe80::', 10, 'ipv6');
PRIVATE.addSubnet('ff00::', 8, 'ipv6');

/** True for an IP address a tenant's base URL may not reach (IPv4-mapped IPv6 is judged as IPv4). */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1] as string, 'ipv4');
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Last four characters of a key, for people to recognise it; the rest is never shown again. */
const hintOf = (key: string) => `…${key.slice(-4)}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether a host (name or literal) resolves only to public addresses; every A and AAAA record counts. */
async function hostVerdict(hostname: string): Promise<'public' | 'private' | 'unresolvable'> {
  const host = hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch {
    return 'unresolvable';
  }
  if (addresses.length === 0) return 'unresolvable';
  return addresses.every((a) => !isPrivateAddress(a)) ? 'public' : 'private';
}

/**
 * Per-tenant AI provider configuration and the calls made with it: the key sealed under the master
 * key (additional data: the tenant id, so a sealed key copied to another tenant's row does not
 * open), the monthly LLM token quota, and the `Embedder` (batched, retried, metered).
 */
export function createAiService(deps: {
  db: Database;
  masterKey: Buffer;
  usage: UsageService;
  directory: TenantDirectory;
  options: AiOptions;
  /** The embedding model of a tenant's settings (default: the AI SDK provider of its kind); unit tests pass mock models. */
  embeddingModel?: (settings: ProviderSettings) => EmbeddingModel | null;
}) {
  const { db, masterKey, usage, directory, options } = deps;
  const aad = (tenantId: string) => `ai_provider:${tenantId}`;
  const batchSize = options.embeddingBatchSize ?? 64;
  const retries = options.embeddingRetries ?? 2;
  const retryBaseMs = options.retryBaseMs ?? 250;

  async function checkBaseUrl(raw: string, path: string): Promise<string> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw invalid(path, 'is not a URL');
    }
    assertThat(url.protocol === 'http:' || url.protocol === 'https:', invalid(path, 'must use http or https'));
    assertThat(!url.username && !url.password, invalid(path, 'must not carry credentials; use apiKey'));
    if (!options.allowPrivateUrls) {
      const verdict = await hostVerdict(url.hostname);
      assertThat(verdict !== 'unresolvable', invalid(path, 'names a host that does not resolve'));
      assertThat(
        verdict === 'public',
        invalid(path, 'points at a loopback or private network address, which this installation does not allow'),
      );
    }
    return url.toString().replace(/\/$/, '');
  }

  /**
   * Every provider request re-checks its destination (DNS may have changed since the base URL was
   * accepted) and follows no redirect. A resolver that answers differently between this check and
   * the connection (rebinding) is not stopped here: that needs a connect-time check (see docs).
   */
  const guardedFetch: ProviderFetch | undefined = options.allowPrivateUrls
    ? undefined
    : async (input, init) => {
        const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        const verdict = await hostVerdict(new URL(href).hostname);
        if (verdict !== 'public')
          throw Object.assign(new Error(`provider destination refused (${verdict})`), { name: 'DestinationRefusedError' });
        return fetch(input, { ...init, redirect: 'error' });
      };

  function settingsOf(tenantId: string, row: repo.ProviderRow): ProviderSettings {
    let apiKey: string | null = null;
    if (row.api_key_sealed) {
      try {
        apiKey = decrypt(masterKey, row.api_key_sealed, aad(tenantId));
      } catch {
        // Sealed under another master key (or altered): the call goes out without a key, the provider
        // refuses it, and the assistant degrades instead of failing the request.
        apiKey = null;
      }
    }
    return {
      kind: row.kind,
      baseUrl: row.base_url,
      chatModel: row.chat_model,
      embeddingModel: row.embedding_model,
      apiKey,
      toolCalls: row.tool_calls,
    };
  }

  async function llmQuota(tx: Tx, tenantId: string): Promise<{ used: number; limit: number | null }> {
    const tenant = await directory.getWithin(tx, tenantId);
    const limit = tenant?.limits.llmTokensPerMonth;
    const { rows } = await tx.query<{ total: number }>(
      `SELECT COALESCE(sum(value), 0)::float8 AS total FROM usage_counters
       WHERE metric = 'llm_tokens' AND granularity = 'month' AND period_start = date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`,
    );
    return { used: rows[0]?.total ?? 0, limit: typeof limit === 'number' ? limit : null };
  }

  async function withRetries<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call(AbortSignal.timeout(options.timeoutMs));
      } catch (error) {
        const retryable = APICallError.isInstance(error) ? error.isRetryable : true;
        if (!retryable || attempt >= retries) throw error;
        await sleep(retryBaseMs * 2 ** attempt);
      }
    }
  }

  const embedder: Embedder = {
    async embed(tenantId, texts, _purpose) {
      const settings = await settingsFor(tenantId);
      const model = settings ? (deps.embeddingModel ? deps.embeddingModel(settings) : embeddingModelOf(settings, guardedFetch)) : null;
      if (!settings || !model) return null;
      if (texts.length === 0) return { vectors: [], model: settings.embeddingModel ?? '', dimensions: 0, tokens: 0 };
      const vectors: number[][] = [];
      let tokens = 0;
      for (let i = 0; i < texts.length; i += batchSize) {
        const batch = texts.slice(i, i + batchSize);
        const result = await withRetries((abortSignal) => embedMany({ model, values: batch, maxRetries: 0, abortSignal }));
        vectors.push(...result.embeddings);
        tokens += result.usage?.tokens ?? 0;
      }
      if (tokens > 0) await db.withTenant(tenantId, (tx) => usage.recordBillable(tx, tenantId, 'embedding_tokens', tokens));
      return { vectors, model: settings.embeddingModel ?? '', dimensions: vectors[0]?.length ?? 0, tokens };
    },
  };

  async function settingsFor(tenantId: string): Promise<ProviderSettings | null> {
    const row = await db.withTenant(tenantId, (tx) => repo.findProvider(tx));
    return row ? settingsOf(tenantId, row) : null;
  }

  return {
    embedder,
    settingsFor,
    /** The chat model of a tenant's settings, its requests guarded like the embedder's. */
    languageModel: (settings: ProviderSettings) => languageModelOf(settings, guardedFetch),
    timeoutMs: options.timeoutMs,

    async get(tenantId: string) {
      return db.withTenant(tenantId, (tx) => repo.findProvider(tx));
    },

    async put(tenantId: string, input: ProviderInput) {
      assertThat(
        input.kind !== 'anthropic' || !input.embeddingModel,
        invalid('body/embeddingModel', 'is not available for anthropic (it has no embedding models)'),
      );
      assertThat(
        input.kind !== 'openai-compatible' || input.baseUrl,
        invalid('body/baseUrl', 'is required for an openai-compatible server'),
      );
      const baseUrl = input.baseUrl ? await checkBaseUrl(input.baseUrl, 'body/baseUrl') : null;
      const apiKey = input.apiKey === undefined ? undefined : input.apiKey;
      return db.withTenant(tenantId, async (tx) => {
        if (apiKey === undefined && input.kind !== 'openai-compatible') {
          const current = await repo.findProvider(tx);
          assertThat(current?.api_key_sealed && current.kind === input.kind, invalid('body/apiKey', `is required for ${input.kind}`));
        }
        assertThat(apiKey !== null || input.kind === 'openai-compatible', invalid('body/apiKey', `is required for ${input.kind}`));
        return repo.upsertProvider(tx, {
          tenantId,
          kind: input.kind,
          baseUrl,
          chatModel: input.chatModel,
          embeddingModel: input.embeddingModel ?? null,
          toolCalls: input.toolCalls ?? input.kind !== 'openai-compatible',
          apiKeySealed: apiKey === undefined ? undefined : apiKey === null ? null : encrypt(masterKey, apiKey, aad(tenantId)),
          keyHint: apiKey === undefined ? undefined : apiKey === null ? null : hintOf(apiKey),
        });
      });
    },

    async remove(tenantId: string) {
      await db.withTenant(tenantId, (tx) => repo.deleteProvider(tx));
    },

    /** Refuses (429 quota_exceeded) when the month's LLM tokens have reached the tier's quota. */
    async assertLlmQuota(tenantId: string) {
      const { used, limit } = await db.withTenant(tenantId, (tx) => llmQuota(tx, tenantId));
      assertThat(
        limit === null || used < limit,
        () => new AppError('quota_exceeded', `the monthly quota of ${limit} LLM tokens is used up`, { metric: 'llm_tokens', limit, used }),
      );
    },

    /** LLM tokens, recorded in the transaction of the action that used them. */
    recordLlmTokens(tx: Tx, tenantId: string, tokens: number) {
      return usage.recordBillable(tx, tenantId, 'llm_tokens', tokens);
    },

    /** One assistant answer, counted in the transaction that saves it. */
    recordMessage(tx: Tx, tenantId: string) {
      return usage.recordBillable(tx, tenantId, 'messages', 1);
    },
  };
}

export type AiService = ReturnType<typeof createAiService>;
