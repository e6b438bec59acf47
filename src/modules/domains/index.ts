export { systemTxtResolver, type TxtResolver } from './dns.ts';
export { domainRoutes } from './domains.routes.ts';
export { CHALLENGE_PREFIX, CHALLENGE_VALUE_PREFIX, createDomainService, type DomainService } from './domains.service.ts';
export { normalizeHostname } from './hostnames.ts';
