import { createAnthropic } from '@ai-sdk/anthropic';
import { createGoogleGenerativeAI } from '@ai-sdk/google';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { EmbeddingModel, LanguageModel } from 'ai';

export const PROVIDER_KINDS = ['openai', 'anthropic', 'google', 'openai-compatible'] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

/** A tenant's provider with its key in clear: lives in memory for the length of one call. */
export type ProviderSettings = {
  kind: ProviderKind;
  baseUrl: string | null;
  chatModel: string;
  embeddingModel: string | null;
  apiKey: string | null;
  /** The model may call tools (the assistant offers `remember`). */
  toolCalls?: boolean;
};

/** The fetch the provider clients use (the AI service passes one that re-checks the destination). */
export type ProviderFetch = typeof globalThis.fetch;

/** The AI SDK provider of the settings: one code path for every kind, so tests of one exercise all. */
function providerOf(settings: ProviderSettings, fetch?: ProviderFetch) {
  const apiKey = settings.apiKey ?? undefined;
  const baseURL = settings.baseUrl ?? undefined;
  switch (settings.kind) {
    case 'openai':
      return { kind: 'openai' as const, provider: createOpenAI({ apiKey, baseURL, fetch }) };
    case 'anthropic':
      return { kind: 'anthropic' as const, provider: createAnthropic({ apiKey, baseURL, fetch }) };
    case 'google':
      return { kind: 'google' as const, provider: createGoogleGenerativeAI({ apiKey, baseURL, fetch }) };
    case 'openai-compatible':
      return {
        kind: 'openai-compatible' as const,
        // includeUsage asks the server for token counts in the stream: they are metered.
        provider: createOpenAICompatible({ name: 'tenant', baseURL: settings.baseUrl ?? '', apiKey, includeUsage: true, fetch }),
      };
  }
}

export function languageModelOf(settings: ProviderSettings, fetch?: ProviderFetch): LanguageModel {
  const p = providerOf(settings, fetch);
  if (p.kind === 'openai-compatible') return p.provider.chatModel(settings.chatModel);
  return p.provider.languageModel(settings.chatModel);
}

/** The embedding model, or null for a provider without one (Anthropic) or none configured. */
export function embeddingModelOf(settings: ProviderSettings, fetch?: ProviderFetch): EmbeddingModel | null {
  if (!settings.embeddingModel) return null;
  const p = providerOf(settings, fetch);
  if (p.kind === 'anthropic') return null;
  return p.provider.embeddingModel(settings.embeddingModel);
}
