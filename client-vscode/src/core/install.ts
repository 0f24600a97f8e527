/**
 * "CodeCortex: Install Server": a virtual environment of its own in the extension's global
 * storage, made with the selected Python, with the server installed into it — from the wheel
 * shipped inside the extension when there is one, otherwise by its distribution name.
 *
 * This module plans the steps; src/common/install.ts runs them with progress.
 */
import * as path from 'node:path';

import { PYTHON_DISTRIBUTION } from './constants';

/** Oldest Python the server runs on. */
export const MIN_PYTHON: readonly [number, number] = [3, 11];

/** Folder name of the managed environment inside the global storage. */
export const MANAGED_VENV = 'server-venv';

/** Prints `major.minor` (run with the candidate interpreter). */
export const PYTHON_VERSION_SCRIPT = 'import sys; print("%d.%d" % sys.version_info[:2])';

export interface Step {
  /** Shown in the progress notification. */
  title: string;
  command: string;
  args: string[];
}

/** The `python` of a virtual environment. */
export function venvPython(venv: string, platform: NodeJS.Platform): string {
  return platform === 'win32'
    ? path.win32.join(venv, 'Scripts', 'python.exe')
    : path.posix.join(venv, 'bin', 'python');
}

/** `[major, minor]` from the output of {@link PYTHON_VERSION_SCRIPT}, or undefined. */
export function parsePythonVersion(output: string): [number, number] | undefined {
  const match = /^(\d+)\.(\d+)\s*$/.exec(output.trim());
  return match === null ? undefined : [Number(match[1]), Number(match[2])];
}

export function isSupportedPython(version: readonly [number, number]): boolean {
  return version[0] > MIN_PYTHON[0] || (version[0] === MIN_PYTHON[0] && version[1] >= MIN_PYTHON[1]);
}

function wheelVersion(file: string): number[] | undefined {
  // {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl, distribution normalised
  // with underscores (PEP 427).
  const match = /^codecortex_lsp-(\d+(?:\.\d+)*)-.+\.whl$/i.exec(path.basename(file));
  return match === null ? undefined : match[1].split('.').map(Number);
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) {
      return d;
    }
  }
  return 0;
}

/** The server's wheel with the highest version among `files` (names or paths), if any. */
export function pickWheel(files: readonly string[]): string | undefined {
  let best: { file: string; version: number[] } | undefined;
  for (const file of files) {
    const version = wheelVersion(file);
    if (version !== undefined && (best === undefined || compareVersions(version, best.version) > 0)) {
      best = { file, version };
    }
  }
  return best?.file;
}

/** The steps that make the environment and install the server into it. */
export function installSteps(options: {
  basePython: string;
  venv: string;
  platform: NodeJS.Platform;
  wheel?: string;
}): Step[] {
  const python = venvPython(options.venv, options.platform);
  const source = options.wheel ?? PYTHON_DISTRIBUTION;
  return [
    {
      title: 'creating the environment',
      command: options.basePython,
      args: ['-m', 'venv', '--clear', options.venv],
    },
    {
      title: options.wheel === undefined ? `installing ${PYTHON_DISTRIBUTION}` : `installing ${path.basename(source)}`,
      command: python,
      args: ['-m', 'pip', 'install', '--disable-pip-version-check', '--upgrade', source],
    },
    {
      title: 'checking the server',
      command: python,
      args: ['-m', 'codecortex', '--version'],
    },
  ];
}
