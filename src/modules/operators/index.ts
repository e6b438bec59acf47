export { operatorAuthRoutes } from './operators.routes.ts';
export { createOperatorService, type OperatorService } from './operators.service.ts';
