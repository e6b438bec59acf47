export { brandingRoutes } from './branding.routes.ts';
export { type BrandingService, createBrandingService, fontStack } from './branding.service.ts';
export { contrastIssues, contrastRatio, DEFAULT_COLORS, relativeLuminance } from './colors.ts';
export { detectImageType, LOGO_MAX_BYTES, sanitizeSvg, validatePng } from './logo.ts';
