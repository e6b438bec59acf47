import { Type } from 'typebox';

/**
 * Path ids are plain strings here, not `format: uuid`: a malformed id answers exactly like a
 * missing one (404), so an id's shape reveals nothing. Services check the shape before querying.
 */
export const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });
export const NoContent = Type.Null({ description: 'No content' });
export const Timestamp = Type.String({ format: 'date-time' });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
export const Email = Type.String({ format: 'email', maxLength: 254 });
