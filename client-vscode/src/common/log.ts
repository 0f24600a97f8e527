/** The extension's single LogOutputChannel, used for the client, the server's output and traces. */
import * as vscode from 'vscode';

import { SERVER_NAME } from '../core/constants';

let channel: vscode.LogOutputChannel | undefined;

export function createLog(): vscode.LogOutputChannel {
  channel = vscode.window.createOutputChannel(SERVER_NAME, { log: true });
  return channel;
}

export function log(): vscode.LogOutputChannel | undefined {
  return channel;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
