// The slot (0–16383) of a Redis Cluster key, as ioredis computes it (the package ships no types).
declare module 'cluster-key-slot' {
  function calculateSlot(key: string | Buffer): number;
  export = calculateSlot;
}
