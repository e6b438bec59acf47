import type { FastifyBaseLogger } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { Database, Tx } from '../../platform/db/database.ts';
import { AppError, assertThat, notFound } from '../../platform/errors.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { Invalidation, InvalidationBus } from '../../platform/invalidation.ts';
import type { Actor } from '../access/index.ts';
import { findTenantById } from '../tenants/index.ts';
import { BUILTIN_PROFILES } from './config.defaults.ts';
import * as repo from './config.repo.ts';
import type { LevelRef, OperatorScope, RolloutRow, VersionRow } from './config.repo.ts';
import type { EffectiveConfig, PartialDocument } from './config.schema.ts';
import {
  bodyPath,
  type Change,
  type Conflict,
  conflictKey,
  diff,
  flatten,
  type Layer,
  mergePatch,
  type Resolved,
  RULES,
  resolve,
  touchedPaths,
  unflatten,
} from './document.ts';
import { compareCohort, inCohort, type RequestCounts, type RequestErrorSource } from './rollouts.ts';

type OperatorDocs = Map<string, { version: number; document: PartialDocument }>;
/** Everything above the tenant level, as one node holds it: small, read whole, dropped on any operator change. */
type OperatorSnapshot = { docs: OperatorDocs; rollouts: RolloutRow[]; profiles: Set<string> };

export type TenantPlacement = { profile: string | null; tier: string };

/** The effective configuration of one tenant, with what produced it. */
export type EffectiveEntry = Resolved & {
  tenantId: string;
  placement: TenantPlacement;
  versions: { global: number; profile: number; tier: number; tenant: number };
  rollouts: string[];
};

const docKey = (scope: OperatorScope, name = '') => (scope === 'global' ? 'global' : `${scope}:${name}`);
export const etagOf = (version: number) => `"v${version}"`;

/** `If-Match` is required on every write (428 without it); `*` matches any current version. */
function checkIfMatch(ifMatch: string | undefined, version: number): void {
  assertThat(
    ifMatch !== undefined && ifMatch.trim() !== '',
    new AppError('precondition_required', 'send If-Match with the ETag of the version you read (or * to overwrite any version)', {
      currentVersion: version,
      etag: etagOf(version),
    }),
  );
  const tags = ifMatch.split(',').map((tag) => tag.trim());
  if (tags.includes('*') || tags.includes(etagOf(version))) return;
  throw stale(version);
}

const stale = (version: number) =>
  new AppError('precondition_failed', 'the configuration changed since you read it; read it again and reapply your change', {
    currentVersion: version,
    etag: etagOf(version),
  });

function refusal(errors: Array<{ path: string; message: string }>): AppError {
  const first = errors[0] as { path: string; message: string };
  return new AppError('validation_failed', `${first.path} ${first.message}`, { errors });
}

/** Splits a global patch into the keys it removes and the values it sets (a rollout layer). */
function splitPatch(patch: PartialDocument): { removals: PartialDocument; sets: PartialDocument } {
  const leaves = [...flatten(patch)];
  return {
    removals: unflatten(leaves.filter(([, v]) => v === null).map(([p]) => [p, null])),
    sets: unflatten(leaves.filter(([, v]) => v !== null)),
  };
}

export type ConfigServiceDeps = {
  db: Database;
  bus: InvalidationBus;
  log: FastifyBaseLogger;
  /** Outcomes of tenant requests on this node, for automatic rollback of rollouts. */
  errors: RequestErrorSource;
  /** Safety net only: entries are dropped by invalidation events; the TTL bounds a lost event. */
  cacheTtlMs?: number;
  /** How often this node compares a rollout's cohort with the other tenants; 0 disables the timer. */
  rolloutCheckMs?: number;
};

export function createConfigService(deps: ConfigServiceDeps) {
  const { db, bus } = deps;
  const cache = new LRUCache<string, EffectiveEntry>({ max: 100_000, ttl: deps.cacheTtlMs ?? 60_000 });
  const pending = new Map<string, Promise<EffectiveEntry>>();
  let snapshot: OperatorSnapshot | undefined;
  let snapshotPending: Promise<OperatorSnapshot> | undefined;
  /** Bumped by every invalidation: a load that started before an invalidation is not cached. */
  let generation = 0;

  function invalidate(event: Invalidation): void {
    if (event.type === 'tenant' || (event.type === 'config' && event.scope === 'tenant')) {
      generation += 1;
      cache.delete(event.tenantId);
      pending.delete(event.tenantId);
      return;
    }
    if (event.type !== 'config') return;
    generation += 1;
    snapshot = undefined;
    snapshotPending = undefined;
    pending.clear();
    if (event.scope === 'profile' || event.scope === 'tier') {
      for (const [tenantId, entry] of cache.entries()) {
        const affected = event.scope === 'profile' ? entry.placement.profile === event.key : entry.placement.tier === event.key;
        if (affected || event.key === undefined) cache.delete(tenantId);
      }
    } else cache.clear();
  }
  bus.on(invalidate);

  async function readSnapshot(tx: Tx): Promise<OperatorSnapshot> {
    const docs: OperatorDocs = new Map();
    for (const row of await repo.listOperatorDocuments(tx))
      docs.set(docKey(row.scope, row.name), { version: row.version, document: row.document });
    const rollouts = await repo.listActiveRollouts(tx);
    const profiles = new Set((await repo.listProfiles(tx)).map((p) => p.name));
    return { docs, rollouts, profiles };
  }

  async function operatorSnapshot(): Promise<OperatorSnapshot> {
    if (snapshot) return snapshot;
    if (!snapshotPending) {
      const started = generation;
      const promise = db.withControlPlane(readSnapshot).then((loaded) => {
        if (generation === started) snapshot = loaded;
        watch(loaded);
        return loaded;
      });
      snapshotPending = promise;
      promise.then(
        () => {
          if (snapshotPending === promise) snapshotPending = undefined;
        },
        () => {
          if (snapshotPending === promise) snapshotPending = undefined;
        },
      );
    }
    return snapshotPending;
  }

  /** The layers of one tenant, lowest first. Rollouts apply to their cohort, right above the global level. */
  function layersFor(
    snap: Pick<OperatorSnapshot, 'docs' | 'rollouts' | 'profiles'>,
    tenantId: string | undefined,
    placement: TenantPlacement,
    tenantDoc: PartialDocument | undefined,
    rollouts: RolloutRow[] = tenantId ? snap.rollouts.filter((r) => inCohort(r, tenantId)) : [],
  ): Layer[] {
    let global = snap.docs.get('global')?.document ?? {};
    const layers: Layer[] = [];
    const rolloutLayers: Layer[] = [];
    for (const rollout of rollouts) {
      const { removals, sets } = splitPatch(rollout.patch);
      global = mergePatch(global, removals) as PartialDocument;
      rolloutLayers.push({ level: 'rollout', doc: sets, rolloutId: rollout.id });
    }
    layers.push({ level: 'global', doc: global }, ...rolloutLayers);
    if (placement.profile && snap.profiles.has(placement.profile)) {
      layers.push({ level: 'profile', doc: snap.docs.get(docKey('profile', placement.profile))?.document ?? {} });
    }
    layers.push({ level: 'tier', doc: snap.docs.get(docKey('tier', placement.tier))?.document ?? {} });
    if (tenantDoc) layers.push({ level: 'tenant', doc: tenantDoc });
    return layers;
  }

  async function readTenant(tx: Tx, tenantId: string): Promise<{ placement: TenantPlacement; current: VersionRow | undefined }> {
    const row = await findTenantById(tx, tenantId);
    assertThat(row && row.status !== 'deleted', notFound('tenant'));
    return {
      placement: { profile: row.profile, tier: row.tier },
      current: await repo.findCurrentVersion(tx, { scope: 'tenant', tenantId }),
    };
  }

  function entryFor(snap: OperatorSnapshot, tenantId: string, placement: TenantPlacement, current: VersionRow | undefined): EffectiveEntry {
    const rollouts = snap.rollouts.filter((r) => inCohort(r, tenantId));
    const resolved = resolve(layersFor(snap, tenantId, placement, current?.document ?? {}, rollouts));
    const profileUsed = placement.profile && snap.profiles.has(placement.profile) ? placement.profile : null;
    return {
      ...resolved,
      tenantId,
      placement: { profile: profileUsed, tier: placement.tier },
      versions: {
        global: snap.docs.get('global')?.version ?? 0,
        profile: profileUsed ? (snap.docs.get(docKey('profile', profileUsed))?.version ?? 0) : 0,
        tier: snap.docs.get(docKey('tier', placement.tier))?.version ?? 0,
        tenant: current?.version ?? 0,
      },
      rollouts: rollouts.map((r) => r.id),
    };
  }

  async function loadEntry(tenantId: string): Promise<EffectiveEntry> {
    const started = generation;
    const snap = await operatorSnapshot();
    const { placement, current } = await db.withTenant(tenantId, (tx) => readTenant(tx, tenantId));
    const entry = entryFor(snap, tenantId, placement, current);
    if (generation === started) cache.set(tenantId, entry);
    return entry;
  }

  /** The effective configuration with provenance; served from memory except after a change. */
  async function effective(tenantId: string): Promise<EffectiveEntry> {
    const hit = cache.get(tenantId);
    if (hit) return hit;
    let promise = pending.get(tenantId);
    if (!promise) {
      promise = loadEntry(tenantId).finally(() => {
        if (pending.get(tenantId) === promise) pending.delete(tenantId);
      });
      pending.set(tenantId, promise);
    }
    return promise;
  }

  // ───────────── validation ─────────────

  /** Conflicts that a change introduces (or leaves on a key it touches). */
  function introduced(before: Conflict[], after: Conflict[], touched: Set<string>, onlyLevel?: Conflict['level']): Conflict[] {
    const known = new Set(before.map(conflictKey));
    return after.filter((c) => (!onlyLevel || c.level === onlyLevel) && (!known.has(conflictKey(c)) || touched.has(c.path)));
  }

  /** The key to name in an error (one of the rule's keys the change touched, else the key set aside) and why. */
  function blame(conflict: Conflict, touched: Set<string>): { path: string; message: string } {
    const rule = RULES.find((r) => r.id === conflict.rule);
    const path = rule?.paths.find((p) => touched.has(p)) ?? conflict.path;
    return { path, message: conflict.messages?.[path] ?? conflict.message };
  }

  function assertTenantChange(
    snap: OperatorSnapshot,
    tenantId: string,
    placement: TenantPlacement,
    before: PartialDocument,
    after: PartialDocument,
    touched: Set<string>,
  ) {
    const rollouts = snap.rollouts.filter((r) => inCohort(r, tenantId));
    const old = resolve(layersFor(snap, tenantId, placement, before, rollouts));
    const next = resolve(layersFor(snap, tenantId, placement, after, rollouts));
    const errors = introduced(old.conflicts, next.conflicts, touched, 'tenant').map((c) => {
      const blamed = blame(c, touched);
      return { path: bodyPath(blamed.path), message: blamed.message };
    });
    if (errors.length > 0) throw refusal(dedupe(errors));
  }

  /**
   * An operator level is checked in every combination it can meet: each profile (and none) with
   * each tier, without and with each active rollout. Tenant overrides are not read (they live in
   * tenant-scoped tables); one that a later operator change makes inconsistent is set aside and reported.
   */
  async function assertOperatorChange(
    tx: Tx,
    scope: OperatorScope,
    name: string,
    after: PartialDocument,
    touched: Set<string>,
    pathPrefix = 'body',
  ) {
    const snap = await readSnapshot(tx);
    const changed: OperatorSnapshot = { ...snap, docs: new Map(snap.docs) };
    const previous = snap.docs.get(docKey(scope, name));
    changed.docs.set(docKey(scope, name), { version: (previous?.version ?? 0) + 1, document: after });
    if (scope === 'profile') changed.profiles = new Set([...snap.profiles, name]);
    const tiers = scope === 'tier' ? [name] : await repo.listTierNames(tx);
    const profiles: Array<string | null> = scope === 'profile' ? [name] : [null, ...changed.profiles];
    const rolloutSets: RolloutRow[][] = [[], ...snap.rollouts.map((r) => [r])];
    const errors: Array<{ path: string; message: string }> = [];
    for (const profile of profiles) {
      for (const tier of tiers) {
        for (const rollouts of rolloutSets) {
          const placement = { profile, tier };
          const old = resolve(layersFor(snap, undefined, placement, undefined, rollouts));
          const next = resolve(layersFor(changed, undefined, placement, undefined, rollouts));
          for (const c of introduced(old.conflicts, next.conflicts, touched)) {
            const where = [profile ? `profile ${profile}` : 'no profile', `tier ${tier}`, ...rollouts.map((r) => `rollout ${r.id}`)].join(
              ', ',
            );
            const blamed = blame(c, touched);
            errors.push({ path: bodyPath(blamed.path, pathPrefix), message: `${blamed.message} (with ${where})` });
          }
        }
      }
    }
    if (errors.length > 0) throw refusal(dedupe(errors));
  }

  function dedupe(errors: Array<{ path: string; message: string }>) {
    const seen = new Set<string>();
    return errors.filter((e) => !seen.has(e.path) && seen.add(e.path)).slice(0, 20);
  }

  // ───────────── writes ─────────────

  type WriteOptions = { ifMatch: string | undefined; message?: string | null; actor: Actor };
  type Next = { document: PartialDocument; restoredFrom: number | null; touched?: string[] };

  async function inScope<T>(ref: LevelRef, fn: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return ref.scope === 'tenant' ? await db.withTenant(ref.tenantId, fn) : await db.withControlPlane(fn);
    } catch (error) {
      // Two writers read the same version; the primary key let only one of them create the next.
      if ((error as { code?: string }).code === '23505')
        throw new AppError('precondition_failed', 'the configuration changed while you were writing; read it again');
      throw error;
    }
  }

  async function publishChange(ref: LevelRef): Promise<void> {
    if (ref.scope === 'tenant') await bus.publish({ type: 'config', scope: 'tenant', tenantId: ref.tenantId });
    else await bus.publish({ type: 'config', scope: ref.scope, ...(ref.scope === 'global' ? {} : { key: ref.name }) });
  }

  /** One change of one level: If-Match, validation, version N+1 with its diff, invalidation on every node. */
  async function write(ref: LevelRef, next: (current: PartialDocument) => Next, options: WriteOptions) {
    const result = await inScope(ref, async (tx) => {
      let placement: TenantPlacement | undefined;
      let current: VersionRow | undefined;
      if (ref.scope === 'tenant') ({ placement, current } = await readTenant(tx, ref.tenantId));
      else {
        await assertOperatorLevelExists(tx, ref);
        current = await repo.findCurrentVersion(tx, ref);
      }
      const version = current?.version ?? 0;
      checkIfMatch(options.ifMatch, version);
      const before = current?.document ?? {};
      const proposed = next(before);
      const changes = diff(before, proposed.document);
      if (changes.length === 0) return { row: current, changed: false, version };
      const touched = new Set(proposed.touched ?? changes.map((c) => c.path));
      // Read fresh inside this transaction (control-plane tables are readable here): never a nested transaction.
      if (ref.scope === 'tenant')
        assertTenantChange(await readSnapshot(tx), ref.tenantId, placement as TenantPlacement, before, proposed.document, touched);
      else await assertOperatorChange(tx, ref.scope, ref.scope === 'global' ? '' : ref.name, proposed.document, touched);
      const row = await repo.insertVersion(tx, ref, {
        version: version + 1,
        document: proposed.document,
        diff: changes,
        message: options.message ?? null,
        authorType: options.actor.type,
        authorId: options.actor.id,
        restoredFrom: proposed.restoredFrom,
      });
      return { row, changed: true, version: version + 1 };
    });
    if (result.changed) await publishChange(ref);
    return levelView(result.row);
  }

  async function assertOperatorLevelExists(tx: Tx, ref: LevelRef): Promise<void> {
    if (ref.scope === 'profile') assertThat(await repo.findProfile(tx, ref.name), notFound('profile'));
    if (ref.scope === 'tier') assertThat((await repo.listTierNames(tx)).includes(ref.name), notFound('tier'));
  }

  function levelView(row: VersionRow | undefined) {
    const version = row?.version ?? 0;
    return { version, document: row?.document ?? {}, etag: etagOf(version), updatedAt: row?.created_at.toISOString() ?? null };
  }

  async function read<T>(ref: LevelRef, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return inScope(ref, async (tx) => {
      if (ref.scope === 'tenant') await readTenant(tx, ref.tenantId);
      else await assertOperatorLevelExists(tx, ref);
      return fn(tx);
    });
  }

  async function documentAt(tx: Tx, ref: LevelRef, version: number): Promise<PartialDocument> {
    if (version === 0) return {};
    const row = await repo.findVersion(tx, ref, version);
    assertThat(row, notFound('configuration version'));
    return row.document;
  }

  // ───────────── rollouts ─────────────

  /** This node's counts when it began watching each rollout at its current percentage. */
  const baselines = new Map<string, { percentage: number; counts: ReadonlyMap<string, RequestCounts> }>();

  /** Starts (or, after a widening, restarts) the comparison window of each active rollout this node learns of. */
  function watch(snap: OperatorSnapshot): void {
    for (const id of baselines.keys()) if (!snap.rollouts.some((r) => r.id === id)) baselines.delete(id);
    for (const rollout of snap.rollouts) {
      const baseline = baselines.get(rollout.id);
      if (!baseline || baseline.percentage !== rollout.percentage) {
        baselines.set(rollout.id, { percentage: rollout.percentage, counts: deps.errors.snapshot() });
      }
    }
  }

  async function endRollout(id: string, status: 'rolled_back' | 'completed', details: Record<string, unknown>, actor: Actor) {
    const result = await db.withControlPlane(async (tx) => {
      const rollout = await repo.findRollout(tx, id, { lock: true });
      assertThat(rollout, notFound('rollout'));
      if (rollout.status !== 'active') {
        throw new AppError('conflict', `the rollout is already ${rollout.status.replace('_', ' ')}`, { rolloutStatus: rollout.status });
      }
      if (status === 'rolled_back') {
        return repo.updateRollout(tx, id, { status, rollback: { ...details, by: actor, at: new Date().toISOString() } });
      }
      // Completing: the patch becomes a new version of the global level, then the rollout ends.
      const ref: LevelRef = { scope: 'global' };
      const current = await repo.findCurrentVersion(tx, ref);
      const before = current?.document ?? {};
      const document = mergePatch(before, rollout.patch) as PartialDocument;
      await assertOperatorChange(tx, 'global', '', document, new Set(touchedPaths(rollout.patch)));
      const row = await repo.insertVersion(tx, ref, {
        version: (current?.version ?? 0) + 1,
        document,
        diff: diff(before, document),
        message: rollout.message ? `rollout ${id} completed: ${rollout.message}` : `rollout ${id} completed`,
        authorType: actor.type,
        authorId: actor.id,
        restoredFrom: null,
      });
      return repo.updateRollout(tx, id, { status, completedVersion: row.version });
    });
    baselines.delete(id);
    await bus.publish({ type: 'config', scope: 'rollout', key: id });
    if (status === 'completed') await bus.publish({ type: 'config', scope: 'global' });
    return result;
  }

  /**
   * Compares, on this node, the 5xx share of the cohort's requests with the other tenants' since the
   * rollout (at its current percentage) was first seen here; rolls back when the cohort is worse by
   * more than the threshold and has at least `min_requests` requests. Returns the rollouts rolled back.
   */
  /** Evaluations on one node run one after another (the timer and an explicit call never overlap). */
  let evaluating: Promise<unknown> = Promise.resolve();
  function evaluateRollouts(): Promise<string[]> {
    const run = evaluating.then(evaluateOnce, evaluateOnce);
    evaluating = run.catch(() => undefined);
    return run;
  }

  async function evaluateOnce(): Promise<string[]> {
    const snap = await operatorSnapshot();
    watch(snap);
    const now = deps.errors.snapshot();
    const rolledBack: string[] = [];
    for (const rollout of snap.rollouts) {
      const baseline = baselines.get(rollout.id);
      if (!baseline) continue;
      const { cohort, rest } = compareCohort(rollout, now, baseline.counts);
      if (cohort.requests < rollout.min_requests) continue;
      if (cohort.rate - rest.rate <= rollout.error_threshold) continue;
      try {
        await endRollout(
          rollout.id,
          'rolled_back',
          { automatic: true, reason: 'cohort error rate above threshold', threshold: rollout.error_threshold, cohort, rest },
          { type: 'system', id: null },
        );
        rolledBack.push(rollout.id);
        deps.log.warn({ rolloutId: rollout.id, cohort, rest }, 'configuration rollout rolled back automatically');
      } catch (error) {
        // Another node ended it first: nothing left to do.
        if (!(error instanceof AppError && error.code === 'conflict')) throw error;
      }
    }
    return rolledBack;
  }

  let timer: NodeJS.Timeout | undefined;
  const checkMs = deps.rolloutCheckMs ?? 5000;
  if (checkMs > 0) {
    timer = setInterval(() => {
      evaluateRollouts().catch((error: unknown) => deps.log.warn({ err: error }, 'rollout evaluation failed'));
    }, checkMs);
    timer.unref();
  }

  return {
    /** The typed effective configuration of a tenant (other modules: `config.get(tenantId).retrieval`). */
    async get(tenantId: string): Promise<EffectiveConfig> {
      return (await effective(tenantId)).config;
    },
    effective,

    /** Seeds the built-in profiles (version 1 of their level) once; operators' later changes are kept. */
    async ensureBuiltins(): Promise<void> {
      await db.withControlPlane(async (tx) => {
        for (const profile of BUILTIN_PROFILES) {
          if (!(await repo.insertProfile(tx, { name: profile.name, description: profile.description, builtin: true }))) continue;
          const ref: LevelRef = { scope: 'profile', name: profile.name };
          if (await repo.findCurrentVersion(tx, ref)) continue;
          await repo.insertVersion(tx, ref, {
            version: 1,
            document: profile.document,
            diff: diff({}, profile.document),
            message: 'built-in profile',
            authorType: 'system',
            authorId: null,
            restoredFrom: null,
          });
        }
      });
    },

    level(ref: LevelRef) {
      return read(ref, async (tx) => levelView(await repo.findCurrentVersion(tx, ref)));
    },

    patch(ref: LevelRef, patch: PartialDocument, options: WriteOptions) {
      return write(
        ref,
        (current) => ({ document: mergePatch(current, patch) as PartialDocument, restoredFrom: null, touched: touchedPaths(patch) }),
        options,
      );
    },

    async rollback(ref: LevelRef, version: number, options: WriteOptions) {
      const target = await read(ref, (tx) => documentAt(tx, ref, version));
      return write(ref, () => ({ document: target, restoredFrom: version }), {
        ...options,
        message: options.message ?? `rollback to version ${version}`,
      });
    },

    listVersions(ref: LevelRef, page: { before: number | null; limit: number }) {
      return read(ref, (tx) => repo.listVersions(tx, ref, page));
    },

    async version(ref: LevelRef, version: number): Promise<VersionRow> {
      const row = await read(ref, (tx) => repo.findVersion(tx, ref, version));
      assertThat(row, notFound('configuration version'));
      return row;
    },

    diff(ref: LevelRef, from: number, to: number): Promise<{ from: number; to: number; changes: Change[] }> {
      return read(ref, async (tx) => ({ from, to, changes: diff(await documentAt(tx, ref, from), await documentAt(tx, ref, to)) }));
    },

    listProfiles() {
      return db.withControlPlane(async (tx) => {
        const docs = await readSnapshot(tx);
        return (await repo.listProfiles(tx)).map((p) => ({ ...p, version: docs.docs.get(docKey('profile', p.name))?.version ?? 0 }));
      });
    },

    async createProfile(input: { name: string; description: string; document?: PartialDocument; message?: string }, actor: Actor) {
      const created = await db.withControlPlane(async (tx) => {
        if (!(await repo.insertProfile(tx, { name: input.name, description: input.description, builtin: false }))) {
          throw new AppError('conflict', `profile "${input.name}" exists`, { field: 'name' });
        }
        const document = (input.document ? mergePatch({}, input.document) : {}) as PartialDocument;
        let version = 0;
        if (Object.keys(document).length > 0) {
          await assertOperatorChange(tx, 'profile', input.name, document, new Set(touchedPaths(document)), 'body/document');
          version = (
            await repo.insertVersion(
              tx,
              { scope: 'profile', name: input.name },
              {
                version: 1,
                document,
                diff: diff({}, document),
                message: input.message ?? null,
                authorType: actor.type,
                authorId: actor.id,
                restoredFrom: null,
              },
            )
          ).version;
        }
        return { ...((await repo.findProfile(tx, input.name)) as repo.ProfileRow), version };
      });
      await bus.publish({ type: 'config', scope: 'profile', key: input.name });
      return created;
    },

    async createRollout(
      input: { patch: PartialDocument; percentage: number; errorThreshold: number; minRequests?: number; message?: string },
      actor: Actor,
    ) {
      const row = await db.withControlPlane(async (tx) => {
        const current = await repo.findCurrentVersion(tx, { scope: 'global' });
        const document = mergePatch(current?.document ?? {}, input.patch) as PartialDocument;
        assertThat(
          diff(current?.document ?? {}, document).length > 0,
          new AppError('validation_failed', 'the patch changes nothing', { errors: [{ path: 'body/patch', message: 'changes nothing' }] }),
        );
        await assertOperatorChange(tx, 'global', '', document, new Set(touchedPaths(input.patch)), 'body/patch');
        return repo.insertRollout(tx, {
          id: uuidv7(),
          patch: input.patch,
          percentage: input.percentage,
          errorThreshold: input.errorThreshold,
          minRequests: input.minRequests ?? 20,
          message: input.message ?? null,
          authorType: actor.type,
          authorId: actor.id,
        });
      });
      await bus.publish({ type: 'config', scope: 'rollout', key: row.id });
      return row;
    },

    async getRollout(id: string): Promise<RolloutRow> {
      const row = await db.withControlPlane((tx) => repo.findRollout(tx, id));
      assertThat(row, notFound('rollout'));
      return row;
    },

    listRollouts(page: { after: string | null; limit: number; activeOnly?: boolean }) {
      return db.withControlPlane((tx) => repo.listRollouts(tx, page));
    },

    /** Widens the rollout: the cohort only grows, so no tenant loses a change it already has. */
    async widenRollout(id: string, percentage: number): Promise<RolloutRow> {
      const row = await db.withControlPlane(async (tx) => {
        const rollout = await repo.findRollout(tx, id, { lock: true });
        assertThat(rollout, notFound('rollout'));
        assertThat(
          rollout.status === 'active',
          new AppError('conflict', `the rollout is ${rollout.status.replace('_', ' ')}`, { rolloutStatus: rollout.status }),
        );
        assertThat(
          percentage >= rollout.percentage,
          new AppError('validation_failed', 'a rollout only widens; roll it back to withdraw it', {
            errors: [{ path: 'body/percentage', message: `must be at least the current ${rollout.percentage}` }],
          }),
        );
        return repo.updateRollout(tx, id, { percentage });
      });
      await bus.publish({ type: 'config', scope: 'rollout', key: id });
      return row;
    },

    rollbackRollout: (id: string, reason: string | undefined, actor: Actor) =>
      endRollout(id, 'rolled_back', { automatic: false, reason: reason ?? 'rolled back by an operator' }, actor),
    completeRollout: (id: string, actor: Actor) => endRollout(id, 'completed', {}, actor),
    evaluateRollouts,

    close() {
      if (timer) clearInterval(timer);
    },
  };
}

export type ConfigService = ReturnType<typeof createConfigService>;
