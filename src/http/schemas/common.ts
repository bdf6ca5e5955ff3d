import { Type } from 'typebox';

/** The one error body every route answers with. */
export const ErrorBody = Type.Object({ error: Type.String(), error_description: Type.String() });

/** Printable without spaces (ids, keys). */
export const Printable = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[^\\s\\x00-\\x1f\\x7f]+$' });
/** Printable, spaces allowed (issuers, subjects). */
export const Text = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[^\\x00-\\x1f\\x7f]+$' });

export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) });

/** The error answers every /v1 route documents. */
export const ErrorResponses = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
