import { type Static, type TSchema, Type } from 'typebox';

/**
 * The configuration document: every key, its type and range. One schema serves four purposes:
 * the full effective document, the leaf checks applied to every stored level, the merge-patch
 * bodies of the write routes (each leaf also accepts `null`, "remove this override"), and OpenAPI.
 */
const strict = { additionalProperties: false } as const;

/** A string enum as `{ type: 'string', enum }`: one clear error message instead of one per literal. */
function oneOf<const T extends readonly string[]>(values: T, description?: string) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });
}

export const FEATURE_NAME = '^[a-z][a-z0-9_-]{0,63}$';
const LANGUAGE = '^[a-z]{2,3}(?:-[A-Z]{2})?$';

export const MFA_POLICIES = ['off', 'admins', 'everyone'] as const;
export const TONES = ['formal', 'neutral', 'friendly', 'empathetic'] as const;
/**
 * Second-stage reranking (docs/retrieval.md): none; mmr (diversity); llm (the tenant's chat model grades
 * the candidates). cross_encoder is kept as an alias of the provider reranker (the AI SDK providers
 * configured here have no reranking model yet), so stored documents that name it stay valid.
 */
export const RERANKERS = ['none', 'mmr', 'llm', 'cross_encoder'] as const;

export const Retrieval = Type.Object(
  {
    chunkSize: Type.Integer({ minimum: 100, maximum: 8000, description: 'Characters per chunk when documents are split' }),
    chunkOverlap: Type.Integer({ minimum: 0, maximum: 4000, description: 'Characters shared by consecutive chunks; < chunkSize' }),
    topK: Type.Integer({ minimum: 1, maximum: 100, description: 'Chunks given to the assistant; <= candidatesPerLeg' }),
    minScore: Type.Number({ minimum: 0, maximum: 1, description: 'Chunks scoring below this are dropped' }),
    weights: Type.Object(
      {
        vector: Type.Number({ minimum: 0, maximum: 1 }),
        keyword: Type.Number({ minimum: 0, maximum: 1 }),
      },
      { ...strict, description: 'Hybrid search weights (normalised; their sum must be > 0)' },
    ),
    candidatesPerLeg: Type.Integer({ minimum: 1, maximum: 1000, description: 'Candidates fetched by each of vector and keyword search' }),
    reranker: oneOf(
      RERANKERS,
      'Second-stage reranking: none, mmr (diversity), llm (the chat model grades the candidates; cross_encoder is an alias of it)',
    ),
  },
  strict,
);

export const Assistant = Type.Object(
  {
    tone: oneOf(TONES),
    language: Type.String({ pattern: LANGUAGE, maxLength: 10, description: 'Language the assistant answers in by default' }),
    maxTokens: Type.Integer({ minimum: 64, maximum: 32000 }),
    temperature: Type.Number({ minimum: 0, maximum: 2 }),
    systemPrompt: Type.String({ maxLength: 8000, description: 'Added to the built-in instructions' }),
    intents: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }), { maxItems: 100, uniqueItems: true }),
    citeSources: Type.Boolean(),
    handoffToHuman: Type.Boolean({ description: 'Offer a human operator when the assistant cannot answer' }),
  },
  strict,
);

export const Security = Type.Object(
  {
    mfa: oneOf(MFA_POLICIES, 'Who must use a second factor'),
    sessionIdleMinutes: Type.Integer({ minimum: 5, maximum: 43200, description: 'Inactivity that ends a session; <= absolute' }),
    sessionAbsoluteMinutes: Type.Integer({ minimum: 15, maximum: 525600, description: 'Longest life of a session' }),
    stepUpMinutes: Type.Integer({
      minimum: 1,
      maximum: 1440,
      description: 'How recent the last authentication must be for a sensitive change (step-up)',
    }),
    mfaEnrollmentGraceDays: Type.Integer({
      minimum: 0,
      maximum: 90,
      description: 'Days a new account may sign in without a second factor when the MFA policy requires one',
    }),
    adaptiveMfa: Type.Boolean({
      description: 'Challenge logins from a new device or network, or after recent failures, for a second factor',
    }),
  },
  strict,
);

const Clock = Type.String({ pattern: '^(?:[01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM, tenant time zone' });

export const Notifications = Type.Object(
  {
    email: Type.Boolean(),
    inApp: Type.Boolean(),
    digest: oneOf(['off', 'daily', 'weekly'] as const),
    quietHours: Type.Object({ enabled: Type.Boolean(), start: Clock, end: Clock }, strict),
  },
  strict,
);

export const Locale = Type.Object(
  {
    default: Type.String({ pattern: LANGUAGE, maxLength: 10 }),
    supported: Type.Array(Type.String({ pattern: LANGUAGE, maxLength: 10 }), { minItems: 1, maxItems: 50, uniqueItems: true }),
    timezone: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z_+\\-/0-9]+$', description: 'IANA time zone' }),
  },
  strict,
);

/** Per-tenant feature flags (F-C5 reads them here): a map of flag name → on/off. */
export const Features = Type.Unsafe<Record<string, boolean>>({
  type: 'object',
  propertyNames: { pattern: FEATURE_NAME, maxLength: 64 },
  additionalProperties: { type: 'boolean' },
  maxProperties: 200,
});

export const Retention = Type.Object(
  {
    conversationDays: Type.Integer({ minimum: 1, maximum: 3650 }),
    auditDays: Type.Integer({ minimum: 30, maximum: 3650 }),
    deletedItemsDays: Type.Integer({ minimum: 0, maximum: 365, description: 'How long deleted items can be restored' }),
  },
  strict,
);

export const ConfigDocument = Type.Object(
  {
    retrieval: Retrieval,
    assistant: Assistant,
    security: Security,
    notifications: Notifications,
    locale: Locale,
    features: Features,
    retention: Retention,
  },
  strict,
);
export type ConfigDocument = Static<typeof ConfigDocument>;
export type EffectiveConfig = ConfigDocument;

/** A stored level: any subset of the document's leaves. */
export type PartialDocument = Record<string, unknown>;

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  [key: string]: unknown;
};

const plain = (schema: TSchema) => JSON.parse(JSON.stringify(schema)) as JsonSchema;

/**
 * The merge-patch form of a schema: every property optional, every leaf also `null` (remove the
 * override at this level), objects still closed (an unknown key is refused with its path).
 */
function patchOf(schema: JsonSchema): JsonSchema {
  if (schema.properties) {
    const properties: Record<string, JsonSchema> = {};
    for (const [key, child] of Object.entries(schema.properties)) properties[key] = nullable(patchOf(child));
    const { required: _required, ...rest } = schema;
    return { ...rest, properties, minProperties: 1 };
  }
  if (schema.type === 'object' && typeof schema.additionalProperties === 'object') {
    return { ...schema, additionalProperties: nullable(schema.additionalProperties) };
  }
  return schema;
}

function nullable(schema: JsonSchema): JsonSchema {
  if (schema.enum) return { ...schema, type: undefined, enum: [...(schema.enum as unknown[]), null] };
  if (typeof schema.type === 'string') return { ...schema, type: [schema.type, 'null'] };
  return { anyOf: [schema, { type: 'null' }] };
}

function withoutUndefined(schema: JsonSchema): JsonSchema {
  return JSON.parse(JSON.stringify(schema)) as JsonSchema;
}

const documentPatch = withoutUndefined(patchOf(plain(ConfigDocument)));
const { minProperties: _any, ...documentPatchProperties } = documentPatch;

/** A partial document with merge-patch semantics (RFC 7396): `null` removes the override at this level. */
export const ConfigPatch = Type.Unsafe<PartialDocument>({ ...documentPatchProperties, description: 'Partial configuration document' });

/**
 * The body of the write routes: the patch's sections at the top level, plus an optional
 * `message` describing the change (recorded with the version). `message` is not a configuration key.
 */
export const ConfigPatchBody = Type.Unsafe<PartialDocument & { message?: string }>({
  ...documentPatchProperties,
  properties: {
    ...(documentPatchProperties.properties as Record<string, JsonSchema>),
    message: { type: 'string', maxLength: 500, description: 'Why the change was made (kept with the version)' },
  },
  description: 'Partial configuration document (JSON merge patch) and an optional message',
});

/** The schema of each leaf path (`retrieval.chunkSize`), and of each map's values (`features.*`). */
export const LEAF_SCHEMAS = new Map<string, JsonSchema>();
export const MAP_SCHEMAS = new Map<string, { key: JsonSchema; value: JsonSchema }>();
(function index(schema: JsonSchema, prefix: string) {
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (child.properties) index(child, path);
    else if (child.type === 'object' && typeof child.additionalProperties === 'object') {
      MAP_SCHEMAS.set(path, { key: (child.propertyNames as JsonSchema) ?? {}, value: child.additionalProperties });
    } else LEAF_SCHEMAS.set(path, child);
  }
})(plain(ConfigDocument), '');

export const SECTIONS = Object.keys(plain(ConfigDocument).properties ?? {});
