import type { Tx } from '../../platform/db/database.ts';
import type { Colors } from './colors.ts';
import type { LogoType } from './logo.ts';

export type BrandingRow = {
  colors: Partial<Colors>;
  font_family: string | null;
  logo_content_type: LogoType | null;
  logo_size: number | null;
  logo_sha256: string | null;
  logo_updated_at: Date | null;
  updated_at: Date;
};

// The logo bytes are read only by findLogo: settings reads stay small.
const COLUMNS = `colors, font_family, logo_content_type, octet_length(logo) AS logo_size, logo_sha256, logo_updated_at, updated_at`;

export async function findBranding(tx: Tx): Promise<BrandingRow | undefined> {
  const { rows } = await tx.query<BrandingRow>(`SELECT ${COLUMNS} FROM tenant_branding`);
  return rows[0];
}

export async function upsertSettings(
  tx: Tx,
  tenantId: string,
  settings: { colors: Colors; fontFamily: string | null },
): Promise<BrandingRow> {
  const { rows } = await tx.query<BrandingRow>(
    `INSERT INTO tenant_branding (tenant_id, colors, font_family) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id) DO UPDATE SET colors = EXCLUDED.colors, font_family = EXCLUDED.font_family, updated_at = now()
     RETURNING ${COLUMNS}`,
    [tenantId, JSON.stringify(settings.colors), settings.fontFamily],
  );
  return rows[0] as BrandingRow;
}

export async function upsertLogo(
  tx: Tx,
  tenantId: string,
  logo: { bytes: Buffer; contentType: LogoType; sha256: string },
): Promise<BrandingRow> {
  const { rows } = await tx.query<BrandingRow>(
    `INSERT INTO tenant_branding (tenant_id, logo, logo_content_type, logo_sha256, logo_updated_at) VALUES ($1, $2, $3, $4, now())
     ON CONFLICT (tenant_id) DO UPDATE SET logo = EXCLUDED.logo, logo_content_type = EXCLUDED.logo_content_type,
       logo_sha256 = EXCLUDED.logo_sha256, logo_updated_at = now(), updated_at = now()
     RETURNING ${COLUMNS}`,
    [tenantId, logo.bytes, logo.contentType, logo.sha256],
  );
  return rows[0] as BrandingRow;
}

export async function clearLogo(tx: Tx): Promise<boolean> {
  const result = await tx.query(
    `UPDATE tenant_branding SET logo = NULL, logo_content_type = NULL, logo_sha256 = NULL, logo_updated_at = now(), updated_at = now()
     WHERE logo IS NOT NULL`,
  );
  return result.rowCount > 0;
}

export type LogoRow = { logo: Buffer; logo_content_type: LogoType; logo_sha256: string };

export async function findLogo(tx: Tx): Promise<LogoRow | undefined> {
  const { rows } = await tx.query<LogoRow>('SELECT logo, logo_content_type, logo_sha256 FROM tenant_branding WHERE logo IS NOT NULL');
  const row = rows[0];
  // PGlite returns bytea as a Uint8Array, node-postgres as a Buffer.
  return row ? { ...row, logo: Buffer.from(row.logo) } : undefined;
}
