import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  installSteps,
  isSupportedPython,
  parsePythonVersion,
  pickWheel,
  venvPython,
} from '../core/install';

describe('pickWheel', () => {
  it('picks the newest codecortex-lsp wheel and ignores everything else', () => {
    const files = [
      'package.json',
      'codecortex-0.9.0-py3-none-any.whl', // another project's name on PyPI
      'codecortex_lsp-0.1.0-py3-none-any.whl',
      'codecortex_lsp-0.10.0-py3-none-any.whl',
      'codecortex_lsp-0.2.1-py3-none-any.whl',
      'codecortex_lsp-0.3.0.tar.gz',
    ];
    assert.equal(pickWheel(files), 'codecortex_lsp-0.10.0-py3-none-any.whl');
    assert.equal(pickWheel(['README.md']), undefined);
    assert.equal(pickWheel(['/ext/codecortex_lsp-1.0.0-py3-none-any.whl']), '/ext/codecortex_lsp-1.0.0-py3-none-any.whl');
  });
});

describe('Python version', () => {
  it('parses major.minor and needs 3.11 or newer', () => {
    assert.deepEqual(parsePythonVersion('3.12\n'), [3, 12]);
    assert.equal(parsePythonVersion('Python 3.12'), undefined);
    assert.equal(isSupportedPython([3, 11]), true);
    assert.equal(isSupportedPython([3, 10]), false);
    assert.equal(isSupportedPython([4, 0]), true);
  });
});

describe('installSteps', () => {
  it('makes a venv with the selected Python and installs the shipped wheel into it', () => {
    const steps = installSteps({
      basePython: '/usr/bin/python3.12',
      venv: '/storage/server-venv',
      platform: 'linux',
      wheel: '/ext/codecortex_lsp-0.1.0-py3-none-any.whl',
    });
    assert.deepEqual(
      steps.map((s) => [s.command, ...s.args]),
      [
        ['/usr/bin/python3.12', '-m', 'venv', '--clear', '/storage/server-venv'],
        [
          '/storage/server-venv/bin/python',
          '-m',
          'pip',
          'install',
          '--disable-pip-version-check',
          '--upgrade',
          '/ext/codecortex_lsp-0.1.0-py3-none-any.whl',
        ],
        ['/storage/server-venv/bin/python', '-m', 'codecortex', '--version'],
      ],
    );
  });

  it('installs codecortex-lsp by name when no wheel is shipped', () => {
    const steps = installSteps({ basePython: 'python3', venv: '/s/v', platform: 'linux' });
    assert.equal(steps[1].args[steps[1].args.length - 1], 'codecortex-lsp');
    assert.match(steps[1].title, /codecortex-lsp/);
  });

  it('knows where a venv keeps python on Windows', () => {
    assert.equal(venvPython('C:\\s\\v', 'win32'), 'C:\\s\\v\\Scripts\\python.exe');
  });
});
