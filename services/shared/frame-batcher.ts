/**
 * Frames of a MessageStream written in one event-loop turn, sent as one gRPC message when the
 * other side reads batches (it says up to how many encoded bytes in Subscribe / Subscribed).
 * A gRPC message costs both sides its own framing, decoding, promise and stream dispatch, about
 * as much as the frame itself; under load a turn writes tens of frames to the same stream.
 */

/** The stream a batcher writes to (a grpc-js duplex call). */
export interface FrameSink<F> {
  write(frame: F, done: (err?: Error | null) => void): unknown;
}

/** The batch size a side announces for its gRPC receive limit: the limit less room for the batch's own framing. */
export const batchBudget = (receiveLimit: number): number => Math.max(0, receiveLimit - 1024);

/** The batch frame's own encoding around its frames (its field's tag and length). */
const WRAPPER_BYTES = 12;

/** Frames per batch at most, whatever their size: bounds the work of one message on either side. */
export const MAX_BATCH_FRAMES = 256;

/**
 * An upper bound of a frame's protobuf encoding from its plain-object form: a string 3 bytes per
 * UTF-16 unit plus its tag and length, any other scalar 11 bytes, every message or list 6 bytes of
 * its own. Cheap, and never below the real size, so a batch stays under the reader's limit.
 */
export function encodedBound(value: unknown): number {
  if (typeof value === 'string') return 3 * value.length + 6;
  if (value === null || value === undefined) return 0;
  if (typeof value !== 'object') return 11;
  let n = 6;
  if (Array.isArray(value)) for (const v of value) n += encodedBound(v);
  else for (const k in value) n += encodedBound((value as Record<string, unknown>)[k]);
  return n;
}

export class FrameBatcher<F> {
  private pending: F[] = [];
  private pendingBytes = 0;
  private scheduled: NodeJS.Immediate | undefined;
  private unsent = 0;
  private maxBytes = 0;

  /**
   * `wrap` makes the batch frame of several frames; `sendLimit` is this side's own gRPC send limit,
   * which a batch stays under whatever the other side announces. Batching starts off (see `enable`).
   */
  constructor(
    private readonly sink: FrameSink<F>,
    private readonly wrap: (frames: F[]) => F,
    private readonly sendLimit: number,
  ) {}

  /** The other side reads batches up to `maxBytes` encoded (0: one frame per message). */
  enable(maxBytes: number): void {
    this.flush();
    this.maxBytes = Math.min(maxBytes, batchBudget(this.sendLimit));
  }

  /** Frames written and not yet taken by the stream (gathered, or in its buffer). */
  get queued(): number {
    return this.unsent;
  }

  /** Writes a frame after every frame written before it; batched when the other side reads batches. */
  write(frame: F): void {
    const size = this.maxBytes > 0 ? encodedBound(frame) : Infinity;
    if (size > this.maxBytes) {
      this.flush();
      this.send([frame]);
      return;
    }
    if (WRAPPER_BYTES + this.pendingBytes + size > this.maxBytes || this.pending.length >= MAX_BATCH_FRAMES) this.flush();
    this.pending.push(frame);
    this.pendingBytes += size;
    this.unsent++;
    this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Sends what is gathered now. */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const frames = this.pending;
    if (frames.length === 0) return;
    this.pending = [];
    this.pendingBytes = 0;
    this.unsent -= frames.length;
    this.send(frames);
  }

  /** Drops what is gathered (the stream is gone). */
  discard(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.unsent -= this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
  }

  private send(frames: F[]): void {
    const n = frames.length;
    this.unsent += n;
    this.sink.write(n === 1 ? frames[0]! : this.wrap(frames), () => {
      this.unsent -= n;
    });
  }
}
