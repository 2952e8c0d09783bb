import { isEdit, isMessageKind, kindFields, type AcceptedSend } from '../../shared/message.js';

/**
 * The codec of the log's records (Kafka record values; the key is the conversation). A record is
 * JSON with flat fields, as written since the first release: records still in the log after an
 * upgrade must read the same, so this layout changes only by adding optional fields.
 */
interface LogRecord {
  msgId: string;
  conversation: string;
  from: string;
  to: string;
  body: string;
  ts: number;
  clientId: string;
  originInstance: string;
  originConnection: string;
  kind?: string;
  members?: string[];
  /** The seq an edit or a deletion changes. */
  ref?: number;
}

const STRINGS = ['msgId', 'conversation', 'from', 'to', 'body', 'clientId', 'originInstance', 'originConnection'] as const;

/** An accepted send as a record value. */
export function encodeLogRecord(s: AcceptedSend): string {
  const r: LogRecord = {
    msgId: s.msgId,
    conversation: s.conversation,
    from: s.from,
    to: s.to,
    body: s.body,
    ts: s.ts,
    clientId: s.clientId,
    originInstance: s.origin.instance,
    originConnection: s.origin.connection,
  };
  return JSON.stringify(Object.assign(r, kindFields(s)));
}

/** A record value as an accepted send; undefined when it is not one (the caller counts and skips it). */
export function decodeLogRecord(value: Buffer | null): AcceptedSend | undefined {
  if (!value) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const r = parsed as Partial<Record<keyof LogRecord, unknown>>;
  if (!STRINGS.every((k) => typeof r[k] === 'string') || typeof r.ts !== 'number') return undefined;
  const rec = r as LogRecord;
  const s: AcceptedSend = {
    msgId: rec.msgId,
    conversation: rec.conversation,
    from: rec.from,
    to: rec.to,
    body: rec.body,
    ts: rec.ts,
    clientId: rec.clientId,
    origin: { instance: rec.originInstance, connection: rec.originConnection },
  };
  if (r.kind !== undefined) {
    const kind = r.kind;
    const members: unknown = r.members;
    if (!isMessageKind(kind) || !Array.isArray(members) || !members.every((u): u is string => typeof u === 'string')) return undefined;
    if (isEdit({ kind }) && !(typeof r.ref === 'number' && Number.isSafeInteger(r.ref) && r.ref >= 1)) return undefined;
    Object.assign(s, kindFields({ kind, members, ref: r.ref as number }));
  }
  return s;
}
