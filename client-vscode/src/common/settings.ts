/** Reads the `codecortex` section from VS Code and maps it to the server's settings. */
import * as vscode from 'vscode';

import { CONFIG_SECTION } from '../core/constants';
import { serverLogLevel } from '../core/logLevel';
import { type NotificationLevel, parseNotificationLevel } from '../core/notifications';
import { type ConvertedSettings, sectionFromGetter, toServerSettings } from '../core/settings';
import { log } from './log';

/** The raw `codecortex` section (nested), for the given scope. */
export function readSection(scope?: vscode.ConfigurationScope): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION, scope);
  return sectionFromGetter((key) => config.get(key));
}

/** What the server receives (initializationOptions, didChangeConfiguration, configuration). */
export function serverSettings(scope?: vscode.ConfigurationScope): ConvertedSettings {
  const section = readSection(scope);
  section.logLevel = serverLogLevel(log()?.logLevel ?? vscode.LogLevel.Info);
  return toServerSettings(section);
}

/** `codecortex.enable`: false stops the server and keeps it stopped. */
export function enabledSetting(): boolean {
  return vscode.workspace.getConfiguration(CONFIG_SECTION).get<boolean>('enable', true);
}

export function notificationLevel(): NotificationLevel {
  return parseNotificationLevel(vscode.workspace.getConfiguration(CONFIG_SECTION).get('notifications'));
}

export function serverPathSetting(): string {
  return vscode.workspace.getConfiguration(CONFIG_SECTION).get<string>('server.path', '');
}

export function firstWorkspaceFolder(): vscode.WorkspaceFolder | undefined {
  return vscode.workspace.workspaceFolders?.[0];
}
