/**
 * Every popup the extension and the server want to show goes through here, so that
 * `codecortex.notifications` governs them: what does not pop up goes to the log and, for a while,
 * to the status bar.
 */
import * as vscode from 'vscode';

import { type MessageKind, popsUp } from '../core/notifications';
import { notificationLevel } from './settings';

/** How long a message that did not pop up stays in the status bar. */
const STATUS_BAR_MS = 15_000;

/**
 * Shows `message` as a popup when the setting allows it (resolving to the chosen action), else
 * logs it and shows it in the status bar (resolving to undefined).
 */
export async function notify<T extends string>(
  log: vscode.LogOutputChannel,
  kind: MessageKind,
  message: string,
  ...actions: T[]
): Promise<T | undefined> {
  if (kind === 'error') {
    log.error(message);
  } else if (kind === 'warning') {
    log.warn(message);
  } else {
    log.info(message);
  }
  if (!popsUp(notificationLevel(), kind)) {
    const icon = kind === 'info' ? '$(info)' : '$(warning)';
    vscode.window.setStatusBarMessage(`${icon} ${message.replace(/^CodeCortex:\s*/, 'CodeCortex: ')}`, STATUS_BAR_MS);
    return undefined;
  }
  if (kind === 'error') {
    return vscode.window.showErrorMessage(message, ...actions);
  }
  if (kind === 'warning') {
    return vscode.window.showWarningMessage(message, ...actions);
  }
  return vscode.window.showInformationMessage(message, ...actions);
}
