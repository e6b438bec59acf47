import type { ConfigDocument, PartialDocument } from './config.schema.ts';

/** Level 0: the built-in defaults, in code. Every key has one, so the effective document is always complete. */
export const BUILTIN_DEFAULTS: ConfigDocument = {
  retrieval: {
    chunkSize: 1000,
    chunkOverlap: 150,
    topK: 8,
    minScore: 0.2,
    weights: { vector: 0.6, keyword: 0.4 },
    candidatesPerLeg: 50,
    reranker: 'none',
  },
  assistant: {
    tone: 'neutral',
    language: 'en',
    maxTokens: 1024,
    temperature: 0.3,
    systemPrompt: '',
    intents: ['faq', 'contact_request', 'handoff_to_human'],
    citeSources: true,
    handoffToHuman: true,
  },
  security: {
    mfa: 'admins',
    sessionIdleMinutes: 720,
    sessionAbsoluteMinutes: 43200,
    stepUpMinutes: 10,
    mfaEnrollmentGraceDays: 7,
    adaptiveMfa: true,
  },
  notifications: { email: true, inApp: true, digest: 'daily', quietHours: { enabled: false, start: '22:00', end: '07:00' } },
  locale: { default: 'en', supported: ['en', 'it'], timezone: 'UTC' },
  features: {},
  retention: { conversationDays: 365, auditDays: 365, deletedItemsDays: 30 },
};

export type BuiltinProfile = { name: string; description: string; document: PartialDocument };

/**
 * The built-in industry profiles, seeded as version 1 of their level on first start (operators may
 * then change them like any level, and add profiles of their own). README "Configuration levels
 * and profiles" lists the differences.
 */
export const BUILTIN_PROFILES: BuiltinProfile[] = [
  {
    name: 'public_administration',
    description: 'Public bodies: formal Italian, long records retention, MFA for everyone, precise answers',
    document: {
      assistant: {
        tone: 'formal',
        language: 'it',
        temperature: 0.1,
        intents: ['procedure_information', 'document_request', 'office_hours', 'appointment_booking', 'handoff_to_human'],
      },
      locale: { default: 'it', timezone: 'Europe/Rome' },
      security: { mfa: 'everyone', sessionIdleMinutes: 30, sessionAbsoluteMinutes: 720 },
      retention: { conversationDays: 1825, auditDays: 3650 },
      retrieval: { topK: 5, minScore: 0.35 },
    },
  },
  {
    name: 'ecommerce',
    description: 'Online shops: friendly tone, short retention, keyword-heavy search for product codes',
    document: {
      assistant: {
        tone: 'friendly',
        language: 'en',
        intents: ['order_status', 'returns', 'product_question', 'shipping', 'handoff_to_human'],
      },
      retention: { conversationDays: 180 },
      retrieval: { chunkSize: 600, chunkOverlap: 80, topK: 10, weights: { vector: 0.5, keyword: 0.5 } },
    },
  },
  {
    name: 'customer_service',
    description: 'Contact centres: empathetic tone, concise answers, human handoff, two-year history',
    document: {
      assistant: {
        tone: 'empathetic',
        maxTokens: 768,
        intents: ['complaint', 'billing_question', 'technical_support', 'account_change', 'handoff_to_human'],
      },
      retention: { conversationDays: 730 },
      retrieval: { topK: 6, candidatesPerLeg: 80 },
    },
  },
  {
    name: 'healthcare',
    description: 'Clinics: formal tone, no creativity, strict sessions and MFA for everyone, minimal conversation retention',
    document: {
      assistant: {
        tone: 'formal',
        temperature: 0,
        systemPrompt: 'Never give a diagnosis or change a treatment; refer clinical questions to a professional.',
        intents: ['appointment_booking', 'opening_hours', 'prescription_renewal', 'handoff_to_human'],
      },
      security: { mfa: 'everyone', sessionIdleMinutes: 15, sessionAbsoluteMinutes: 720 },
      retention: { conversationDays: 30, auditDays: 2190 },
      retrieval: { topK: 4, minScore: 0.5 },
    },
  },
];
