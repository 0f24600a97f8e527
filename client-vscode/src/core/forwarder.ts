/**
 * Forwarding the editor's diagnostics to the server (`codecortex/diagnostics`), editor-agnostic.
 *
 * For every document whose diagnostics change, after a per-document debounce, the forwarder sends
 * all of its diagnostics except the server's own (source "codecortex", or present in the client's
 * own collection). Only documents open in the editor are forwarded; an unchanged list is not sent
 * twice; an empty list is sent when the last other diagnostic disappears.
 */
import { OWN_SOURCE } from './constants';
import { KeyedDebouncer } from './debounce';
import type { DiagnosticsParams, LspDiagnostic } from './protocol';

/** URI schemes of documents whose diagnostics are forwarded. */
export const FORWARDED_SCHEMES: readonly string[] = ['file', 'untitled'];

export function schemeOf(uri: string): string {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri);
  return match === null ? '' : match[1].toLowerCase();
}

export function isForwardedScheme(uri: string): boolean {
  return FORWARDED_SCHEMES.includes(schemeOf(uri));
}

/** Whether a diagnostic with this source is the server's own. */
export function isOwnSource(source: string | undefined): boolean {
  return source !== undefined && source.trim().toLowerCase() === OWN_SOURCE;
}

/**
 * The diagnostics of `all` that come from other sources: not of source "codecortex" and not
 * (by identity or by `key`) among `own`, the client's own collection.
 */
export function selectForwarded<D>(
  all: readonly D[],
  own: readonly D[],
  sourceOf: (d: D) => string | undefined,
  keyOf: (d: D) => string,
): D[] {
  const ownSet = new Set<D>(own);
  const ownKeys = new Set<string>(own.map(keyOf));
  return all.filter((d) => !isOwnSource(sourceOf(d)) && !ownSet.has(d) && !ownKeys.has(keyOf(d)));
}

export interface ForwarderHost<D> {
  /** Whether the document is open in the editor (and of a forwarded scheme). */
  isOpen(uri: string): boolean;
  /** The open document's version, null if unknown. */
  version(uri: string): number | null;
  /** Every diagnostic the editor currently has for the document. */
  current(uri: string): readonly D[];
  /** The diagnostics of the client's own collection for the document. */
  own(uri: string): readonly D[];
  sourceOf(d: D): string | undefined;
  /** A key equal for equal diagnostics (range, severity, source, code, message). */
  keyOf(d: D): string;
  toProtocol(diagnostics: D[]): Promise<LspDiagnostic[]> | LspDiagnostic[];
  send(params: DiagnosticsParams): Promise<void> | void;
  log?(message: string): void;
}

export class DiagnosticsForwarder<D> {
  private readonly debouncer: KeyedDebouncer<string>;
  private readonly lastSent = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private disposed = false;

  constructor(
    private readonly host: ForwarderHost<D>,
    delayMs: number,
  ) {
    this.debouncer = new KeyedDebouncer<string>(delayMs);
  }

  /** Diagnostics of these documents changed: forward them after the debounce. */
  changed(uris: Iterable<string>): void {
    for (const uri of uris) {
      if (this.disposed || !isForwardedScheme(uri) || !this.host.isOpen(uri)) {
        continue;
      }
      this.debouncer.schedule(uri, () => {
        void this.flush(uri);
      });
    }
  }

  /** The document was closed: drop its pending send and what was last sent. */
  closed(uri: string): void {
    this.debouncer.cancel(uri);
    this.lastSent.delete(uri);
  }

  /** The server (re)started: forget what was sent and forward these documents again. */
  resendAll(uris: Iterable<string>): void {
    this.lastSent.clear();
    this.changed(uris);
  }

  isPending(uri: string): boolean {
    return this.debouncer.isPending(uri);
  }

  /** Sends the document's diagnostics now (serialised with earlier sends). */
  flush(uri: string): Promise<void> {
    this.debouncer.cancel(uri);
    const run = this.queue.then(() => this.send(uri));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async send(uri: string): Promise<void> {
    if (this.disposed || !this.host.isOpen(uri)) {
      return;
    }
    const selected = selectForwarded(
      this.host.current(uri),
      this.host.own(uri),
      (d) => this.host.sourceOf(d),
      (d) => this.host.keyOf(d),
    );
    const diagnostics = await this.host.toProtocol(selected);
    const fingerprint = JSON.stringify(diagnostics);
    if (this.lastSent.get(uri) === fingerprint) {
      return;
    }
    try {
      await this.host.send({ uri, version: this.host.version(uri), diagnostics });
      this.lastSent.set(uri, fingerprint);
    } catch (err) {
      this.host.log?.(`Forwarding diagnostics of ${uri} failed: ${String(err)}`);
    }
  }

  dispose(): void {
    this.disposed = true;
    this.debouncer.dispose();
    this.lastSent.clear();
  }
}
