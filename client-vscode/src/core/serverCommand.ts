/**
 * Finds the command that starts the CodeCortex server:
 * 1. `codecortex.server.path` (the `codecortex` executable) -> `<path> serve`;
 * 2. the Python extension's interpreter, when it has the package -> `<python> -m codecortex serve`;
 * 3. the managed environment that "CodeCortex: Install Server" created in the extension's global
 *    storage -> `<venv python> -m codecortex serve`;
 * 4. `codecortex` on PATH -> `codecortex serve` (last: VS Code's PATH may not be the shell's).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { INSTALL_SERVER_TITLE, PYTHON_DISTRIBUTION, PYTHON_PACKAGE } from './constants';

export type ServerOrigin = 'setting' | 'python' | 'managed' | 'path';

export interface ServerCommand {
  command: string;
  args: string[];
  origin: ServerOrigin;
}

export type Resolution =
  | { ok: true; server: ServerCommand; notes: string[] }
  | { ok: false; message: string; notes: string[]; offerInstall: boolean };

export interface ResolveInputs {
  /** Value of `codecortex.server.path` ('' when unset). */
  serverPath: string;
  /** First workspace folder (fs path), for relative paths and `${workspaceFolder}`. */
  workspaceFolder?: string;
  home: string;
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
  /** Interpreter selected in the Python extension, if it is installed. */
  pythonInterpreter: () => Promise<string | undefined>;
  /** The managed environment's Python (from "CodeCortex: Install Server"), if one was made. */
  managedPython: () => string | undefined;
  /** Whether `python -c "import codecortex"` succeeds. */
  hasServerModule: (python: string) => Promise<boolean>;
  /** Whether a file exists and may be executed. */
  isExecutable: (file: string) => boolean;
}

/** Whether `file` is an existing regular file that may be executed. */
export function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    if (process.platform !== 'win32') {
      fs.accessSync(file, fs.constants.X_OK);
    }
    return true;
  } catch {
    return false;
  }
}

/** Whether `python -c "import <module>"` succeeds within the timeout. */
export function canImport(
  python: string,
  module: string = PYTHON_PACKAGE,
  timeoutMs = 20_000,
): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(python, ['-c', `import ${module}`], { timeout: timeoutMs }, (error) => {
      resolve(error === null);
    });
  });
}

/** Expands `~`, `${userHome}`, `${workspaceFolder}` and makes relative paths absolute. */
export function expandPath(
  value: string,
  options: { home: string; workspaceFolder?: string; platform?: NodeJS.Platform },
): string {
  const p = options.platform === 'win32' ? path.win32 : path.posix;
  let out = value.trim();
  out = out.replace(/\$\{userHome\}/g, options.home);
  if (options.workspaceFolder !== undefined) {
    out = out.replace(/\$\{workspaceFolder\}/g, options.workspaceFolder);
  }
  if (out === '~') {
    out = options.home;
  } else if (out.startsWith('~/') || out.startsWith('~\\')) {
    out = p.join(options.home, out.slice(2));
  }
  if (!p.isAbsolute(out) && options.workspaceFolder !== undefined && /[\\/]/.test(out)) {
    out = p.resolve(options.workspaceFolder, out);
  }
  return out;
}

/** Full path of `name` on PATH (honouring PATHEXT on Windows), or undefined. */
export function findOnPath(
  name: string,
  env: Record<string, string | undefined>,
  platform: NodeJS.Platform,
  isExecutable: (file: string) => boolean,
): string | undefined {
  const p = platform === 'win32' ? path.win32 : path.posix;
  const pathVar = env.PATH ?? env.Path ?? '';
  const extensions =
    platform === 'win32'
      ? ['', ...(env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD').split(';').filter((e) => e !== '')]
      : [''];
  for (const dir of pathVar.split(p.delimiter)) {
    if (dir === '') {
      continue;
    }
    for (const ext of extensions) {
      const candidate = p.join(dir, name + ext);
      if (isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** The message shown when no server can be started, with the ways to fix it. */
export function notFoundMessage(python: string | undefined): string {
  return (
    'CodeCortex: the language server was not found' +
    (python === undefined ? '' : ` (the selected interpreter ${python} does not have it)`) +
    `. Run "${INSTALL_SERVER_TITLE}" to install it (${PYTHON_DISTRIBUTION}) into an environment ` +
    'of its own, or set `codecortex.server.path` to the `codecortex` executable.'
  );
}

export async function resolveServerCommand(inputs: ResolveInputs): Promise<Resolution> {
  const notes: string[] = [];
  if (inputs.serverPath.trim() !== '') {
    const file = expandPath(inputs.serverPath, inputs);
    if (!inputs.isExecutable(file)) {
      return {
        ok: false,
        notes,
        offerInstall: false,
        message:
          `CodeCortex: \`codecortex.server.path\` is set to "${file}", which is not an ` +
          'executable file. Point it to the `codecortex` executable or clear the setting.',
      };
    }
    return { ok: true, notes, server: { command: file, args: ['serve'], origin: 'setting' } };
  }
  notes.push('`codecortex.server.path` is not set.');

  let python: string | undefined;
  try {
    python = await inputs.pythonInterpreter();
  } catch (err) {
    notes.push(`Python extension: ${String(err)}`);
  }
  if (python !== undefined && python !== '') {
    if (await inputs.hasServerModule(python)) {
      return {
        ok: true,
        notes,
        server: { command: python, args: ['-m', PYTHON_PACKAGE, 'serve'], origin: 'python' },
      };
    }
    notes.push(`The selected interpreter ${python} cannot import ${PYTHON_PACKAGE}.`);
  } else {
    notes.push('No interpreter from the Python extension.');
  }

  const managed = inputs.managedPython();
  if (managed !== undefined) {
    if (inputs.isExecutable(managed) && (await inputs.hasServerModule(managed))) {
      return {
        ok: true,
        notes,
        server: { command: managed, args: ['-m', PYTHON_PACKAGE, 'serve'], origin: 'managed' },
      };
    }
    notes.push(`The managed environment's ${managed} cannot import ${PYTHON_PACKAGE}.`);
  }

  const onPath = findOnPath('codecortex', inputs.env, inputs.platform, inputs.isExecutable);
  if (onPath !== undefined) {
    return { ok: true, notes, server: { command: onPath, args: ['serve'], origin: 'path' } };
  }
  notes.push('No `codecortex` on PATH.');
  const interpreter = python === '' ? undefined : python;
  return {
    ok: false,
    notes,
    message: notFoundMessage(interpreter),
    offerInstall: true,
  };
}
