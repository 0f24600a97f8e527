/**
 * Forwards the editor's diagnostics from every other source to the server as
 * `codecortex/diagnostics` (languages.onDidChangeDiagnostics, debounced per document).
 */
import * as vscode from 'vscode';

import { FORWARD_DEBOUNCE_MS, Notifications } from '../core/constants';
import { DiagnosticsForwarder, type ForwarderHost } from '../core/forwarder';
import type { LspDiagnostic } from '../core/protocol';
import type { ServerManager } from './server';

function openDocument(uri: string): vscode.TextDocument | undefined {
  return vscode.workspace.textDocuments.find((d) => !d.isClosed && d.uri.toString() === uri);
}

function codeOf(d: vscode.Diagnostic): string | number | undefined {
  return typeof d.code === 'object' ? d.code.value : d.code;
}

/** Equal for diagnostics that show the same thing at the same place. */
export function diagnosticKey(d: vscode.Diagnostic): string {
  const { start, end } = d.range;
  return JSON.stringify([
    start.line,
    start.character,
    end.line,
    end.character,
    d.severity,
    d.source ?? null,
    codeOf(d) ?? null,
    d.message,
  ]);
}

export function registerDiagnosticsForwarding(manager: ServerManager): vscode.Disposable {
  const host: ForwarderHost<vscode.Diagnostic> = {
    isOpen: (uri) => openDocument(uri) !== undefined,
    version: (uri) => openDocument(uri)?.version ?? null,
    current: (uri) => vscode.languages.getDiagnostics(vscode.Uri.parse(uri)),
    own: (uri) => manager.running?.diagnostics?.get(vscode.Uri.parse(uri)) ?? [],
    sourceOf: (d) => d.source,
    keyOf: diagnosticKey,
    toProtocol: async (diagnostics) => {
      const client = manager.running;
      if (client === undefined) {
        throw new Error('the server is not running');
      }
      const converted: LspDiagnostic[] = await client.code2ProtocolConverter.asDiagnostics(diagnostics);
      return converted;
    },
    send: async (params) => {
      const client = manager.running;
      if (client === undefined) {
        throw new Error('the server is not running');
      }
      await client.sendNotification(Notifications.diagnostics, params);
    },
    log: (message) => {
      manager.logWarning(message);
    },
  };
  const forwarder = new DiagnosticsForwarder(host, FORWARD_DEBOUNCE_MS);
  const openUris = () => vscode.workspace.textDocuments.map((d) => d.uri.toString());

  return vscode.Disposable.from(
    vscode.languages.onDidChangeDiagnostics((event) => {
      if (manager.running !== undefined) {
        forwarder.changed(event.uris.map((uri) => uri.toString()));
      }
    }),
    vscode.workspace.onDidOpenTextDocument((document) => {
      if (manager.running !== undefined) {
        forwarder.changed([document.uri.toString()]);
      }
    }),
    vscode.workspace.onDidCloseTextDocument((document) => {
      forwarder.closed(document.uri.toString());
    }),
    manager.onDidStart(() => {
      forwarder.resendAll(openUris());
    }),
    new vscode.Disposable(() => {
      forwarder.dispose();
    }),
  );
}
