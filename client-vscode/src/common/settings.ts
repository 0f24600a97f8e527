/** Reads the `codecortex` section from VS Code and maps it to the server's settings. */
import * as vscode from 'vscode';

import { CONFIG_SECTION } from '../core/constants';
import { type ConvertedSettings, sectionFromGetter, toServerSettings } from '../core/settings';

/** The raw `codecortex` section (nested), for the given scope. */
export function readSection(scope?: vscode.ConfigurationScope): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION, scope);
  return sectionFromGetter((key) => config.get(key));
}

/** What the server receives (initializationOptions, didChangeConfiguration, configuration). */
export function serverSettings(scope?: vscode.ConfigurationScope): ConvertedSettings {
  return toServerSettings(readSection(scope));
}

export function serverPathSetting(): string {
  return vscode.workspace.getConfiguration(CONFIG_SECTION).get<string>('server.path', '');
}

export function firstWorkspaceFolder(): vscode.WorkspaceFolder | undefined {
  return vscode.workspace.workspaceFolders?.[0];
}
