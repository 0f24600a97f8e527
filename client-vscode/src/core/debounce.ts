/** Debouncing keyed by a value (a document URI): one pending call per key. */

export class KeyedDebouncer<K> {
  private readonly timers = new Map<K, ReturnType<typeof setTimeout>>();

  constructor(private readonly delayMs: number) {}

  /** Runs `fn` after the delay unless `schedule` is called again for the same key first. */
  schedule(key: K, fn: () => void): void {
    this.cancel(key);
    const handle = setTimeout(() => {
      this.timers.delete(key);
      fn();
    }, this.delayMs);
    this.timers.set(key, handle);
  }

  cancel(key: K): void {
    const handle = this.timers.get(key);
    if (handle !== undefined) {
      clearTimeout(handle);
      this.timers.delete(key);
    }
  }

  isPending(key: K): boolean {
    return this.timers.has(key);
  }

  get size(): number {
    return this.timers.size;
  }

  dispose(): void {
    for (const handle of this.timers.values()) {
      clearTimeout(handle);
    }
    this.timers.clear();
  }
}

/** A single debounced action (e.g. restarting the server). */
export class Debounced {
  private readonly inner: KeyedDebouncer<0>;

  constructor(
    delayMs: number,
    private readonly fn: () => void,
  ) {
    this.inner = new KeyedDebouncer<0>(delayMs);
  }

  trigger(): void {
    this.inner.schedule(0, this.fn);
  }

  get pending(): boolean {
    return this.inner.isPending(0);
  }

  dispose(): void {
    this.inner.dispose();
  }
}
