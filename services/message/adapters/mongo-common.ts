import { MongoBulkWriteError, MongoServerError } from 'mongodb';

/** What the store's collections share: duplicate-key handling, `$in` filters and their sizes. */

const DUPLICATE_KEY = 11000;
/** Most ids or names in one `$in` (a fold's lookups and deletes). */
export const IN_SLICE = 1000;
/** Most documents per insert of index or membership rows. */
export const INSERT_SLICE = 1000;
export const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === DUPLICATE_KEY;
/** A bulk write whose every failed statement hit an existing _id. */
export const onlyDuplicateKeys = (err: unknown): err is MongoBulkWriteError =>
  err instanceof MongoBulkWriteError && [err.writeErrors].flat().every((e) => e.code === DUPLICATE_KEY);

/** A filter value matching any of `list`: a plain value for one (FerretDB 1.x hands an equality to its backend and filters an `$in` itself, after reading the whole collection). */
export const oneOf = <T>(list: readonly T[]): T | { $in: T[] } => (list.length === 1 ? list[0]! : { $in: [...list] });

/** `list` in slices of IN_SLICE. */
export function* slices<T>(list: readonly T[]): Generator<T[]> {
  for (let i = 0; i < list.length; i += IN_SLICE) yield list.slice(i, i + IN_SLICE);
}
