/**
 * "CodeCortex: Install Server": makes a virtual environment in the extension's global storage
 * with the selected Python (the Python extension's interpreter, else `python3` on PATH), installs
 * the server there (the wheel shipped inside the extension, else `codecortex-lsp` from the
 * package index), remembers it and restarts the server from it.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import * as vscode from 'vscode';

import { PYTHON_DISTRIBUTION } from '../core/constants';
import {
  MANAGED_VENV,
  MIN_PYTHON,
  PYTHON_VERSION_SCRIPT,
  type Step,
  installSteps,
  isSupportedPython,
  parsePythonVersion,
  pickWheel,
  venvPython,
} from '../core/install';
import { findOnPath, isExecutableFile } from '../core/serverCommand';
import { errorMessage } from './log';
import { notify } from './notify';
import { activeInterpreter } from './python';
import { firstWorkspaceFolder } from './settings';

/** globalState key of the managed environment's Python. */
const MANAGED_PYTHON_KEY = 'codecortex.managedPython';

export class ManagedServer {
  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** The managed environment's Python, when "Install Server" made one that still exists. */
  python(): string | undefined {
    const remembered = this.context.globalState.get<string>(MANAGED_PYTHON_KEY);
    return remembered !== undefined && isExecutableFile(remembered) ? remembered : undefined;
  }

  /** Runs the install with a progress notification; true when the server is installed. */
  async install(): Promise<boolean> {
    const base = await this.basePython();
    if (base === undefined) {
      void vscode.window.showErrorMessage(
        `CodeCortex: no Python ${MIN_PYTHON.join('.')} or newer found. Select one with ` +
          '"Python: Select Interpreter" (Python extension) or put python3 on PATH, then run ' +
          '"CodeCortex: Install Server" again.',
      );
      return false;
    }
    const venv = path.join(this.context.globalStorageUri.fsPath, MANAGED_VENV);
    const wheel = this.shippedWheel();
    const steps = installSteps({ basePython: base, venv, platform: process.platform, wheel });
    this.log.info(
      `Installing the server into ${venv} with ${base} from ${wheel ?? `${PYTHON_DISTRIBUTION} (package index)`}.`,
    );
    await fs.promises.mkdir(this.context.globalStorageUri.fsPath, { recursive: true });
    const ok = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: 'CodeCortex: installing the server',
        cancellable: true,
      },
      async (progress, token) => {
        for (const [index, step] of steps.entries()) {
          progress.report({
            message: `${step.title} (${index + 1}/${steps.length})`,
            increment: index === 0 ? 0 : 100 / steps.length,
          });
          const failure = await this.run(step, token);
          if (failure !== undefined) {
            this.log.error(`Install Server: ${step.title} failed: ${failure}`);
            if (!token.isCancellationRequested) {
              void vscode.window
                .showErrorMessage(`CodeCortex: installing the server failed while ${step.title}: ${failure}`, 'Show Log')
                .then((choice) => {
                  if (choice !== undefined) {
                    this.log.show();
                  }
                });
            }
            return false;
          }
        }
        return true;
      },
    );
    if (ok) {
      const python = venvPython(venv, process.platform);
      await this.context.globalState.update(MANAGED_PYTHON_KEY, python);
      void notify(this.log, 'info', `CodeCortex: server installed (${python} -m codecortex serve).`);
    }
    return ok;
  }

  /** The newest `codecortex_lsp-*.whl` shipped in the extension's folder, if any. */
  private shippedWheel(): string | undefined {
    const dir = this.context.extensionUri.fsPath;
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return undefined;
    }
    const name = pickWheel(names);
    return name === undefined ? undefined : path.join(dir, name);
  }

  /** The selected interpreter, else python3 / python on PATH — the first that is new enough. */
  private async basePython(): Promise<string | undefined> {
    const candidates: string[] = [];
    try {
      const selected = await activeInterpreter(firstWorkspaceFolder()?.uri);
      if (selected !== undefined && selected !== '') {
        candidates.push(selected);
      }
    } catch (err) {
      this.log.warn(`Python extension: ${errorMessage(err)}`);
    }
    for (const name of process.platform === 'win32' ? ['python', 'py'] : ['python3', 'python']) {
      const found = findOnPath(name, process.env, process.platform, isExecutableFile);
      if (found !== undefined) {
        candidates.push(found);
      }
    }
    for (const candidate of candidates) {
      const output = await this.capture(candidate, ['-c', PYTHON_VERSION_SCRIPT]);
      const version = output === undefined ? undefined : parsePythonVersion(output);
      if (version !== undefined && isSupportedPython(version)) {
        return candidate;
      }
      this.log.info(
        `Install Server: ${candidate} is ${version === undefined ? 'not usable' : `Python ${version.join('.')}`}, ` +
          `need ${MIN_PYTHON.join('.')}+.`,
      );
    }
    return undefined;
  }

  private capture(command: string, args: string[]): Promise<string | undefined> {
    return new Promise((resolve) => {
      const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.on('error', () => {
        resolve(undefined);
      });
      child.on('close', (code) => {
        resolve(code === 0 ? out : undefined);
      });
    });
  }

  /** Runs one step, its output to the log; undefined on success, else what went wrong. */
  private run(step: Step, token: vscode.CancellationToken): Promise<string | undefined> {
    this.log.info(`$ ${step.command} ${step.args.join(' ')}`);
    return new Promise((resolve) => {
      const child = spawn(step.command, step.args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PIP_NO_INPUT: '1' },
      });
      let lastLine = '';
      const onData = (chunk: Buffer) => {
        for (const line of chunk.toString().split(/\r?\n/)) {
          if (line.trim() !== '') {
            lastLine = line.trim();
            this.log.info(line);
          }
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      const cancel = token.onCancellationRequested(() => {
        child.kill();
      });
      child.on('error', (err) => {
        cancel.dispose();
        resolve(err.message);
      });
      child.on('close', (code, signal) => {
        cancel.dispose();
        if (token.isCancellationRequested) {
          resolve('cancelled');
        } else if (code === 0) {
          resolve(undefined);
        } else {
          resolve(lastLine !== '' ? lastLine : `exit ${String(code ?? signal)}`);
        }
      });
    });
  }
}
