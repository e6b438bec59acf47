import { Compile } from 'typebox/compile';
import { type TSchema, Type } from 'typebox';
import { BUILTIN_DEFAULTS } from './config.defaults.ts';
import { type ConfigDocument, LEAF_SCHEMAS, MAP_SCHEMAS, type PartialDocument } from './config.schema.ts';

/** Where a value came from, lowest to highest precedence. `rollout` is a global change in progress. */
export const LEVELS = ['default', 'global', 'rollout', 'profile', 'tier', 'tenant'] as const;
export type Level = (typeof LEVELS)[number];
const RANK = new Map(LEVELS.map((level, i) => [level, i]));

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** RFC 7396 JSON merge patch: objects merge, `null` removes, anything else (arrays too) replaces. Empty objects are pruned. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else {
      const merged = mergePatch(result[key], value);
      if (isObject(merged) && Object.keys(merged).length === 0) delete result[key];
      else result[key] = merged;
    }
  }
  return result;
}

/** Dotted leaf paths of a document. Arrays are leaves (a merge patch replaces them whole). */
export function flatten(doc: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (!isObject(doc)) {
    if (prefix) out.set(prefix, doc);
    return out;
  }
  for (const [key, value] of Object.entries(doc)) flatten(value, prefix ? `${prefix}.${key}` : key, out);
  return out;
}

export function unflatten(leaves: Iterable<[string, unknown]>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [path, value] of leaves) {
    const parts = path.split('.');
    let node = root;
    for (const part of parts.slice(0, -1)) {
      if (!isObject(node[part])) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts.at(-1) as string] = value;
  }
  return root;
}

/** The paths a merge patch touches (its leaves, nulls included). */
export function touchedPaths(patch: PartialDocument): string[] {
  return [...flatten(patch).keys()];
}

export type Change = { path: string; op: 'added' | 'removed' | 'changed'; before?: unknown; after?: unknown };

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Leaf-level difference between two documents of one level. */
export function diff(before: unknown, after: unknown): Change[] {
  const a = flatten(before);
  const b = flatten(after);
  const changes: Change[] = [];
  for (const path of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    if (!a.has(path)) changes.push({ path, op: 'added', after: b.get(path) });
    else if (!b.has(path)) changes.push({ path, op: 'removed', before: a.get(path) });
    else if (!same(a.get(path), b.get(path))) changes.push({ path, op: 'changed', before: a.get(path), after: b.get(path) });
  }
  return changes;
}

// ───────────── leaf checks ─────────────

const leafValidators = new Map([...LEAF_SCHEMAS].map(([path, schema]) => [path, Compile(Type.Unsafe(schema) as TSchema)]));
const mapValidators = new Map(
  [...MAP_SCHEMAS].map(([path, s]) => [
    path,
    { key: Compile(Type.Unsafe({ type: 'string', ...s.key }) as TSchema), value: Compile(Type.Unsafe(s.value) as TSchema) },
  ]),
);

/** Why a stored leaf cannot be used (unknown key or invalid value), or undefined when it can. */
export function leafProblem(path: string, value: unknown): string | undefined {
  const leaf = leafValidators.get(path);
  if (leaf) return leaf.Check(value) ? undefined : (leaf.Errors(value)[0]?.message ?? 'is not valid');
  const dot = path.lastIndexOf('.');
  const map = dot > 0 ? mapValidators.get(path.slice(0, dot)) : undefined;
  if (map) {
    if (!map.key.Check(path.slice(dot + 1))) return 'is not an allowed name';
    return map.value.Check(value) ? undefined : (map.value.Errors(value)[0]?.message ?? 'is not valid');
  }
  return 'is not a configuration key';
}

// ───────────── cross-key rules ─────────────

type Get = (path: string) => unknown;
export type Rule = {
  id: string;
  /** The keys involved; when the rule fails, the first one set at the highest level is blamed. */
  paths: string[];
  holds(get: Get): boolean;
  message(path: string, get: Get): string;
};

function isTimeZone(zone: unknown): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: String(zone) });
    return true;
  } catch {
    return false;
  }
}

export const RULES: Rule[] = [
  {
    id: 'chunk_overlap_below_size',
    paths: ['retrieval.chunkOverlap', 'retrieval.chunkSize'],
    holds: (get) => (get('retrieval.chunkOverlap') as number) < (get('retrieval.chunkSize') as number),
    message: (path, get) =>
      path === 'retrieval.chunkOverlap'
        ? `must be smaller than retrieval.chunkSize (${get('retrieval.chunkSize')})`
        : `must be greater than retrieval.chunkOverlap (${get('retrieval.chunkOverlap')})`,
  },
  {
    id: 'top_k_within_candidates',
    paths: ['retrieval.topK', 'retrieval.candidatesPerLeg'],
    holds: (get) => (get('retrieval.topK') as number) <= (get('retrieval.candidatesPerLeg') as number),
    message: (path, get) =>
      path === 'retrieval.topK'
        ? `must not exceed retrieval.candidatesPerLeg (${get('retrieval.candidatesPerLeg')})`
        : `must be at least retrieval.topK (${get('retrieval.topK')})`,
  },
  {
    id: 'weights_not_both_zero',
    paths: ['retrieval.weights.vector', 'retrieval.weights.keyword'],
    holds: (get) => (get('retrieval.weights.vector') as number) + (get('retrieval.weights.keyword') as number) > 0,
    message: () => 'retrieval.weights.vector and retrieval.weights.keyword cannot both be 0',
  },
  {
    id: 'idle_within_absolute',
    paths: ['security.sessionIdleMinutes', 'security.sessionAbsoluteMinutes'],
    holds: (get) => (get('security.sessionIdleMinutes') as number) <= (get('security.sessionAbsoluteMinutes') as number),
    message: (path, get) =>
      path === 'security.sessionIdleMinutes'
        ? `must not exceed security.sessionAbsoluteMinutes (${get('security.sessionAbsoluteMinutes')})`
        : `must be at least security.sessionIdleMinutes (${get('security.sessionIdleMinutes')})`,
  },
  {
    id: 'quiet_hours_span',
    paths: ['notifications.quietHours.end', 'notifications.quietHours.start', 'notifications.quietHours.enabled'],
    holds: (get) =>
      !get('notifications.quietHours.enabled') || get('notifications.quietHours.start') !== get('notifications.quietHours.end'),
    message: () => 'quiet hours must start and end at different times',
  },
  {
    id: 'default_locale_supported',
    paths: ['locale.default', 'locale.supported'],
    holds: (get) => (get('locale.supported') as string[]).includes(get('locale.default') as string),
    message: (path, get) =>
      path === 'locale.default'
        ? `must be one of locale.supported (${(get('locale.supported') as string[]).join(', ')})`
        : `must include locale.default (${get('locale.default')})`,
  },
  {
    id: 'known_time_zone',
    paths: ['locale.timezone'],
    holds: (get) => isTimeZone(get('locale.timezone')),
    message: () => 'is not an IANA time zone',
  },
];

// ───────────── resolution ─────────────

export type Layer = { level: Level; doc: PartialDocument; rolloutId?: string };
export type Source = { value: unknown; level: Level; rolloutId?: string };
/** A stored value that does not apply: unknown/invalid, or set aside because it breaks a cross-key rule. */
export type Conflict = {
  path: string;
  level: Level;
  rule?: string;
  message: string;
  /** The rule's message from the side of each key it involves (to name the key a change touched). */
  messages?: Record<string, string>;
};
export type Resolved = { config: ConfigDocument; sources: Map<string, Source>; conflicts: Conflict[] };

const DEFAULT_LEAVES = flatten(BUILTIN_DEFAULTS);

/**
 * Applies the layers over the built-in defaults, leaf by leaf, keeping where each value came from.
 * A value that breaks a cross-key rule is set aside (the inherited value applies) and reported:
 * each level was valid when written, so setting aside the highest offender always converges.
 */
export function resolve(layers: Layer[]): Resolved {
  const stacks = new Map<string, Source[]>();
  for (const [path, value] of DEFAULT_LEAVES) stacks.set(path, [{ value, level: 'default' }]);
  const conflicts: Conflict[] = [];
  for (const layer of layers) {
    for (const [path, value] of flatten(layer.doc)) {
      const problem = leafProblem(path, value);
      if (problem) {
        conflicts.push({ path, level: layer.level, message: problem });
        continue;
      }
      const stack = stacks.get(path) ?? [];
      stack.push({ value, level: layer.level, ...(layer.rolloutId ? { rolloutId: layer.rolloutId } : {}) });
      stacks.set(path, stack);
    }
  }
  const top = (path: string) => stacks.get(path)?.at(-1);
  const get: Get = (path) => top(path)?.value;
  for (let guard = 0; guard < 50; guard += 1) {
    const broken = RULES.find((rule) => !rule.holds(get));
    if (!broken) break;
    let blamed: string | undefined;
    for (const path of broken.paths) {
      const stack = stacks.get(path);
      if (!stack || stack.length < 2) continue;
      if (!blamed || (RANK.get(stack.at(-1)?.level as Level) ?? 0) > (RANK.get(top(blamed)?.level as Level) ?? 0)) blamed = path;
    }
    if (!blamed) break; // only defaults involved: cannot happen with valid defaults
    const message = broken.message(blamed, get);
    const messages = Object.fromEntries(broken.paths.map((path) => [path, broken.message(path, get)]));
    const popped = stacks.get(blamed)?.pop() as Source;
    conflicts.push({ path: blamed, level: popped.level, rule: broken.id, message, messages });
  }
  const sources = new Map<string, Source>();
  for (const [path, stack] of stacks) sources.set(path, stack.at(-1) as Source);
  const config = unflatten([...sources].map(([path, source]) => [path, source.value])) as ConfigDocument;
  config.features ??= {};
  return { config, sources, conflicts };
}

/** Identity of a conflict across two resolutions (messages carry values, so they are left out). */
export const conflictKey = (c: Conflict) => `${c.level}|${c.path}|${c.rule ?? ''}`;

/** `retrieval.chunkSize` → `body/retrieval/chunkSize`, as the validation errors of the API name keys. */
export const bodyPath = (path: string, prefix = 'body') => `${prefix}/${path.replaceAll('.', '/')}`;
