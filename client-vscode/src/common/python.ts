/**
 * The interpreter selected in the Python extension (ms-python.python), through its public API
 * (`environments.getActiveEnvironmentPath` / `resolveEnvironment`). Typed here, not imported,
 * so that the Python extension stays optional.
 */
import * as vscode from 'vscode';

const PYTHON_EXTENSION = 'ms-python.python';

interface EnvironmentPath {
  id: string;
  path: string;
}

interface ResolvedEnvironment {
  executable: { uri?: vscode.Uri };
}

interface PythonExtensionApi {
  environments: {
    getActiveEnvironmentPath(resource?: vscode.Uri): EnvironmentPath;
    resolveEnvironment(env: EnvironmentPath | string): Promise<ResolvedEnvironment | undefined>;
    onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
  };
}

async function api(): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION);
  if (extension === undefined) {
    return undefined;
  }
  const exports = extension.isActive ? extension.exports : await extension.activate();
  return typeof exports === 'object' && 'environments' in exports ? exports : undefined;
}

/** The selected interpreter's executable, or undefined without the Python extension. */
export async function activeInterpreter(resource?: vscode.Uri): Promise<string | undefined> {
  const python = await api();
  if (python === undefined) {
    return undefined;
  }
  const envPath = python.environments.getActiveEnvironmentPath(resource);
  const resolved = await python.environments.resolveEnvironment(envPath);
  return resolved?.executable.uri?.fsPath ?? envPath.path;
}

/** Calls `listener` when the user selects another interpreter. */
export async function onDidChangeInterpreter(
  listener: () => void,
): Promise<vscode.Disposable | undefined> {
  const python = await api();
  return python?.environments.onDidChangeActiveEnvironmentPath(listener);
}
