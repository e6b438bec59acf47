export { localizationRoutes } from './localization.routes.ts';
export {
  createLocalizationService,
  type LocalizationService,
  normalizeLocalization,
  type RequestLocale,
} from './localization.service.ts';
