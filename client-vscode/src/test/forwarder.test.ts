import * as assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';

import { FORWARD_DEBOUNCE_MS } from '../core/constants';
import {
  DiagnosticsForwarder,
  type ForwarderHost,
  isForwardedScheme,
  isOwnSource,
  selectForwarded,
} from '../core/forwarder';
import type { DiagnosticsParams, LspDiagnostic } from '../core/protocol';

interface FakeDiagnostic {
  line: number;
  message: string;
  source?: string;
}

function diag(line: number, message: string, source?: string): FakeDiagnostic {
  return { line, message, source };
}

/** An editor with open documents, their diagnostics and the client's own collection. */
class FakeEditor implements ForwarderHost<FakeDiagnostic> {
  open = new Map<string, number>();
  diagnostics = new Map<string, FakeDiagnostic[]>();
  ownDiagnostics = new Map<string, FakeDiagnostic[]>();
  sent: DiagnosticsParams[] = [];
  failNextSend = false;
  logged: string[] = [];

  isOpen(uri: string): boolean {
    return this.open.has(uri);
  }
  version(uri: string): number | null {
    return this.open.get(uri) ?? null;
  }
  current(uri: string): readonly FakeDiagnostic[] {
    return [...(this.diagnostics.get(uri) ?? []), ...(this.ownDiagnostics.get(uri) ?? [])];
  }
  own(uri: string): readonly FakeDiagnostic[] {
    return this.ownDiagnostics.get(uri) ?? [];
  }
  sourceOf(d: FakeDiagnostic): string | undefined {
    return d.source;
  }
  keyOf(d: FakeDiagnostic): string {
    return JSON.stringify([d.line, d.message, d.source]);
  }
  toProtocol(ds: FakeDiagnostic[]): Promise<LspDiagnostic[]> {
    return Promise.resolve(
      ds.map((d) => ({
        range: { start: { line: d.line, character: 0 }, end: { line: d.line, character: 1 } },
        message: d.message,
        ...(d.source !== undefined ? { source: d.source } : {}),
      })),
    );
  }
  send(params: DiagnosticsParams): Promise<void> {
    if (this.failNextSend) {
      this.failNextSend = false;
      return Promise.reject(new Error('connection closed'));
    }
    this.sent.push(params);
    return Promise.resolve();
  }
  log(message: string): void {
    this.logged.push(message);
  }
}

const A = 'file:///work/a.py';
const B = 'file:///work/b.py';

/** Lets the forwarder's promise chain run after a timer fired. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

describe('selectForwarded', () => {
  it('drops codecortex diagnostics by source and by the own collection', () => {
    const ruff = diag(1, 'unused import', 'ruff');
    const hint = diag(1, 'seen 4x', 'codecortex');
    const ownWithoutSource = diag(2, 'insight');
    const ownCopy = diag(2, 'insight');
    const mypy = diag(3, 'incompatible type', 'mypy');
    const keyOf = (d: FakeDiagnostic) => JSON.stringify(d);
    const result = selectForwarded(
      [ruff, hint, ownCopy, mypy],
      [ownWithoutSource],
      (d) => d.source,
      keyOf,
    );
    assert.deepEqual(result, [ruff, mypy]);
  });

  it('recognises its own source case-insensitively, not other sources', () => {
    assert.equal(isOwnSource('CodeCortex'), true);
    assert.equal(isOwnSource(' codecortex '), true);
    assert.equal(isOwnSource('codecortex-lint'), false);
    assert.equal(isOwnSource(undefined), false);
  });

  it('forwards only file and untitled documents', () => {
    assert.equal(isForwardedScheme('file:///x.py'), true);
    assert.equal(isForwardedScheme('untitled:Untitled-1'), true);
    assert.equal(isForwardedScheme('git:/x.py?ref'), false);
    assert.equal(isForwardedScheme('output:extension-output'), false);
    assert.equal(isForwardedScheme('vscode-notebook-cell:/x.ipynb#1'), false);
  });
});

describe('DiagnosticsForwarder', () => {
  let editor: FakeEditor;
  let forwarder: DiagnosticsForwarder<FakeDiagnostic>;

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
    editor = new FakeEditor();
    forwarder = new DiagnosticsForwarder(editor, FORWARD_DEBOUNCE_MS);
  });

  afterEach(() => {
    forwarder.dispose();
    mock.timers.reset();
  });

  it('sends once per burst of changes, after the debounce, with the version', async () => {
    editor.open.set(A, 7);
    editor.diagnostics.set(A, [diag(0, 'E1', 'ruff')]);
    forwarder.changed([A]);
    mock.timers.tick(FORWARD_DEBOUNCE_MS - 1);
    editor.diagnostics.set(A, [diag(0, 'E1', 'ruff'), diag(4, 'E2', 'mypy')]);
    forwarder.changed([A]);
    mock.timers.tick(FORWARD_DEBOUNCE_MS - 1);
    await settle();
    assert.equal(editor.sent.length, 0);
    mock.timers.tick(1);
    await settle();
    assert.equal(editor.sent.length, 1);
    const [params] = editor.sent;
    assert.equal(params.uri, A);
    assert.equal(params.version, 7);
    assert.deepEqual(
      params.diagnostics.map((d) => [d.range.start.line, d.message, d.source]),
      [
        [0, 'E1', 'ruff'],
        [4, 'E2', 'mypy'],
      ],
    );
  });

  it('debounces each document on its own', async () => {
    editor.open.set(A, 1);
    editor.open.set(B, 1);
    editor.diagnostics.set(A, [diag(0, 'a', 'ruff')]);
    editor.diagnostics.set(B, [diag(0, 'b', 'ruff')]);
    forwarder.changed([A]);
    mock.timers.tick(200);
    forwarder.changed([B]);
    mock.timers.tick(100);
    await settle();
    assert.deepEqual(
      editor.sent.map((p) => p.uri),
      [A],
    );
    assert.equal(forwarder.isPending(B), true);
    mock.timers.tick(200);
    await settle();
    assert.deepEqual(
      editor.sent.map((p) => p.uri),
      [A, B],
    );
  });

  it('never forwards its own diagnostics and skips a change that only touched them', async () => {
    editor.open.set(A, 3);
    editor.diagnostics.set(A, [diag(1, 'unused variable', 'pyflakes')]);
    forwarder.changed([A]);
    mock.timers.tick(FORWARD_DEBOUNCE_MS);
    await settle();
    assert.equal(editor.sent.length, 1);

    // The server publishes a hint: VS Code reports a change, nothing new to forward.
    editor.ownDiagnostics.set(A, [diag(1, 'seen 2x, fixed in 1 min', 'codecortex'), diag(2, 'insight')]);
    forwarder.changed([A]);
    mock.timers.tick(FORWARD_DEBOUNCE_MS);
    await settle();
    assert.equal(editor.sent.length, 1);
    assert.deepEqual(
      editor.sent[0].diagnostics.map((d) => d.message),
      ['unused variable'],
    );
  });

  it('sends an empty list when the other diagnostics are gone', async () => {
    editor.open.set(A, 1);
    editor.diagnostics.set(A, [diag(1, 'undefined name', 'pyflakes')]);
    forwarder.changed([A]);
    mock.timers.tick(FORWARD_DEBOUNCE_MS);
    await settle();
    editor.open.set(A, 2);
    editor.diagnostics.set(A, []);
    editor.ownDiagnostics.set(A, [diag(0, 'hint', 'codecortex')]);
    forwarder.changed([A]);
    mock.timers.tick(FORWARD_DEBOUNCE_MS);
    await settle();
    assert.equal(editor.sent.length, 2);
    assert.deepEqual(editor.sent[1], { uri: A, version: 2, diagnostics: [] });
  });

  it('ignores documents that are not open or not files', async () => {
    editor.diagnostics.set(B, [diag(0, 'x', 'ruff')]);
    editor.open.set('git:/work/a.py', 1);
    editor.diagnostics.set('git:/work/a.py', [diag(0, 'x', 'ruff')]);
    forwarder.changed([B, 'git:/work/a.py']);
    mock.timers.tick(FORWARD_DEBOUNCE_MS * 2);
    await settle();
    assert.equal(editor.sent.length, 0);
  });

  it('drops a pending send when the document closes, and sends again after reopening', async () => {
    editor.open.set(A, 1);
    editor.diagnostics.set(A, [diag(0, 'x', 'ruff')]);
    forwarder.changed([A]);
    mock.timers.tick(FORWARD_DEBOUNCE_MS);
    await settle();
    forwarder.changed([A]);
    editor.open.delete(A);
    forwarder.closed(A);
    mock.timers.tick(FORWARD_DEBOUNCE_MS);
    await settle();
    assert.equal(editor.sent.length, 1);

    editor.open.set(A, 1);
    forwarder.changed([A]);
    mock.timers.tick(FORWARD_DEBOUNCE_MS);
    await settle();
    assert.equal(editor.sent.length, 2, 'an unchanged list is sent again after close/reopen');
  });

  it('resends every open document after a server restart', async () => {
    editor.open.set(A, 1);
    editor.diagnostics.set(A, [diag(0, 'x', 'ruff')]);
    await forwarder.flush(A);
    await forwarder.flush(A);
    assert.equal(editor.sent.length, 1, 'unchanged lists are not sent twice');
    forwarder.resendAll([A]);
    mock.timers.tick(FORWARD_DEBOUNCE_MS);
    await settle();
    assert.equal(editor.sent.length, 2);
  });

  it('retries after a failed send instead of remembering it', async () => {
    editor.open.set(A, 1);
    editor.diagnostics.set(A, [diag(0, 'x', 'ruff')]);
    editor.failNextSend = true;
    await forwarder.flush(A);
    assert.equal(editor.sent.length, 0);
    assert.match(editor.logged[0], /connection closed/);
    await forwarder.flush(A);
    assert.equal(editor.sent.length, 1);
  });
});
