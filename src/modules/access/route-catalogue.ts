import type { RouteAuth } from './principal.ts';

export type CatalogueRoute = { method: string; url: string };

/**
 * The permission catalogue generated from the routes: every route registers its declared auth
 * (app.ts's onRoute hook), so `GET /v1/permissions` lists, for each permission, the routes that need it.
 */
export function createRouteCatalogue() {
  const byPermission = new Map<string, CatalogueRoute[]>();
  return {
    add(method: string | string[], url: string, auth: RouteAuth | undefined) {
      if (!auth || auth.kind !== 'tenant') return;
      for (const m of Array.isArray(method) ? method : [method]) {
        // HEAD twins follow their GET route.
        if (m === 'HEAD') continue;
        const list = byPermission.get(auth.permission) ?? [];
        list.push({ method: m, url });
        byPermission.set(auth.permission, list);
      }
    },
    routesOf(permission: string): CatalogueRoute[] {
      return [...(byPermission.get(permission) ?? [])].sort((a, b) => `${a.url} ${a.method}`.localeCompare(`${b.url} ${b.method}`));
    },
  };
}

export type RouteCatalogue = ReturnType<typeof createRouteCatalogue>;
