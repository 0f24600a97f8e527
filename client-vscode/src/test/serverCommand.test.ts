import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  type ResolveInputs,
  canImport,
  expandPath,
  findOnPath,
  isExecutableFile,
  resolveServerCommand,
} from '../core/serverCommand';

let tmp: string;
let binDir: string;
let serverExe: string;
let notExecutable: string;

function writeFile(file: string, mode: number): void {
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n');
  fs.chmodSync(file, mode);
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'codecortex-client-'));
  binDir = path.join(tmp, 'bin');
  fs.mkdirSync(binDir);
  serverExe = path.join(binDir, 'codecortex');
  writeFile(serverExe, 0o755);
  notExecutable = path.join(tmp, 'codecortex.txt');
  writeFile(notExecutable, 0o644);
});

after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function inputs(overrides: Partial<ResolveInputs>): ResolveInputs {
  return {
    serverPath: '',
    workspaceFolder: tmp,
    home: tmp,
    platform: 'linux',
    env: { PATH: '' },
    pythonInterpreter: () => Promise.resolve(undefined),
    managedPython: () => undefined,
    hasServerModule: () => Promise.resolve(false),
    isExecutable: isExecutableFile,
    ...overrides,
  };
}

describe('isExecutableFile', { skip: process.platform === 'win32' }, () => {
  it('accepts executable files only', () => {
    assert.equal(isExecutableFile(serverExe), true);
    assert.equal(isExecutableFile(notExecutable), false);
    assert.equal(isExecutableFile(binDir), false);
    assert.equal(isExecutableFile(path.join(tmp, 'missing')), false);
  });
});

describe('expandPath', () => {
  it('expands ~, ${userHome}, ${workspaceFolder} and relative paths', () => {
    const opts = { home: '/home/ada', workspaceFolder: '/src/app' };
    assert.equal(expandPath('~/bin/codecortex', opts), '/home/ada/bin/codecortex');
    assert.equal(expandPath('${userHome}/x', opts), '/home/ada/x');
    assert.equal(expandPath('${workspaceFolder}/.venv/bin/codecortex', opts), '/src/app/.venv/bin/codecortex');
    assert.equal(expandPath('.venv/bin/codecortex', opts), '/src/app/.venv/bin/codecortex');
    assert.equal(expandPath('  /opt/cc  ', opts), '/opt/cc');
  });

  it('handles Windows paths', () => {
    const opts = { home: 'C:\\Users\\ada', workspaceFolder: 'D:\\app', platform: 'win32' as const };
    assert.equal(expandPath('~\\bin\\codecortex.exe', opts), 'C:\\Users\\ada\\bin\\codecortex.exe');
    assert.equal(expandPath('.venv\\Scripts\\codecortex.exe', opts), 'D:\\app\\.venv\\Scripts\\codecortex.exe');
  });
});

describe('findOnPath', () => {
  it('finds an executable in PATH order', () => {
    const env = { PATH: [path.join(tmp, 'nothing-here'), tmp, binDir].join(path.delimiter) };
    assert.equal(findOnPath('codecortex', env, 'linux', isExecutableFile), serverExe);
    assert.equal(findOnPath('codecortex', { PATH: tmp }, 'linux', isExecutableFile), undefined);
  });

  it('tries PATHEXT extensions on Windows', () => {
    const existing = new Set(['C:\\Tools\\codecortex.EXE']);
    const found = findOnPath(
      'codecortex',
      { Path: 'C:\\Windows;C:\\Tools', PATHEXT: '.COM;.EXE' },
      'win32',
      (f) => existing.has(f),
    );
    assert.equal(found, 'C:\\Tools\\codecortex.EXE');
  });
});

describe('resolveServerCommand', () => {
  it('uses codecortex.server.path first', async () => {
    const result = await resolveServerCommand(
      inputs({
        serverPath: '${workspaceFolder}/bin/codecortex',
        pythonInterpreter: () => Promise.resolve('/usr/bin/python3'),
        hasServerModule: () => Promise.resolve(true),
      }),
    );
    assert.ok(result.ok);
    assert.deepEqual(result.server, { command: serverExe, args: ['serve'], origin: 'setting' });
  });

  it('reports a server.path that is not an executable, naming the setting', async () => {
    const result = await resolveServerCommand(inputs({ serverPath: notExecutable }));
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.match(result.message, /codecortex\.server\.path/);
    assert.ok(result.message.includes(notExecutable));
  });

  it('runs the selected interpreter with -m codecortex serve when it has the package', async () => {
    const asked: string[] = [];
    const result = await resolveServerCommand(
      inputs({
        env: { PATH: binDir },
        pythonInterpreter: () => Promise.resolve('/venv/bin/python'),
        hasServerModule: (python) => {
          asked.push(python);
          return Promise.resolve(true);
        },
      }),
    );
    assert.deepEqual(asked, ['/venv/bin/python']);
    assert.ok(result.ok);
    assert.deepEqual(result.server, {
      command: '/venv/bin/python',
      args: ['-m', 'codecortex', 'serve'],
      origin: 'python',
    });
  });

  it('falls back to codecortex on PATH when the interpreter lacks the package', async () => {
    const result = await resolveServerCommand(
      inputs({
        env: { PATH: binDir },
        pythonInterpreter: () => Promise.resolve('/usr/bin/python3'),
        hasServerModule: () => Promise.resolve(false),
      }),
    );
    assert.ok(result.ok);
    assert.deepEqual(result.server, { command: serverExe, args: ['serve'], origin: 'path' });
    assert.ok(result.notes.some((n) => n.includes('/usr/bin/python3')));
  });

  it('survives a failing Python extension', async () => {
    const result = await resolveServerCommand(
      inputs({
        env: { PATH: binDir },
        pythonInterpreter: () => Promise.reject(new Error('extension crashed')),
      }),
    );
    assert.ok(result.ok);
    assert.equal(result.server.origin, 'path');
    assert.ok(result.notes.some((n) => n.includes('extension crashed')));
  });

  it('uses the managed environment after the interpreter and before PATH', async () => {
    const asked: string[] = [];
    const result = await resolveServerCommand(
      inputs({
        env: { PATH: binDir },
        pythonInterpreter: () => Promise.resolve('/usr/bin/python3'),
        managedPython: () => serverExe,
        hasServerModule: (python) => {
          asked.push(python);
          return Promise.resolve(python === serverExe);
        },
      }),
    );
    assert.deepEqual(asked, ['/usr/bin/python3', serverExe]);
    assert.ok(result.ok);
    assert.deepEqual(result.server, { command: serverExe, args: ['-m', 'codecortex', 'serve'], origin: 'managed' });
  });

  it('skips a managed environment that lost the package', async () => {
    const result = await resolveServerCommand(
      inputs({ env: { PATH: binDir }, managedPython: () => serverExe, hasServerModule: () => Promise.resolve(false) }),
    );
    assert.ok(result.ok);
    assert.equal(result.server.origin, 'path');
    assert.ok(result.notes.some((n) => n.includes('managed')));
  });

  it('offers "Install Server" when nothing is found, naming the real distribution', async () => {
    const withPython = await resolveServerCommand(
      inputs({ pythonInterpreter: () => Promise.resolve('/venv/bin/python') }),
    );
    assert.ok(!withPython.ok);
    assert.equal(withPython.offerInstall, true);
    assert.match(withPython.message, /CodeCortex: Install Server/);
    assert.match(withPython.message, /codecortex-lsp/);
    assert.match(withPython.message, /\/venv\/bin\/python/);
    assert.match(withPython.message, /codecortex\.server\.path/);
    assert.doesNotMatch(withPython.message, /pip install codecortex\b(?!-)/);

    const without = await resolveServerCommand(inputs({}));
    assert.ok(!without.ok);
    assert.equal(without.offerInstall, true);

    const badSetting = await resolveServerCommand(inputs({ serverPath: notExecutable }));
    assert.ok(!badSetting.ok);
    assert.equal(badSetting.offerInstall, false);
  });
});

const python = findOnPath('python3', process.env, process.platform, isExecutableFile);

describe('canImport', { skip: python === undefined ? 'python3 is not on PATH' : false }, () => {
  it('runs the interpreter to check a module', async () => {
    assert.equal(await canImport(python ?? '', 'json'), true);
    assert.equal(await canImport(python ?? '', 'codecortex_no_such_module'), false);
    assert.equal(await canImport(path.join(tmp, 'no-python'), 'json'), false);
  });
});
