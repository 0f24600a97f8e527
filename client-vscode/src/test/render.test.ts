import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseSearchResponse, parseShowSolutionsResponse, parseStatus } from '../core/protocol';
import {
  cell,
  fence,
  formatDuration,
  humanize,
  searchItem,
  snippetMarkdown,
  solutionsMarkdown,
  statsMarkdown,
} from '../core/render';
import { statusView } from '../core/status';

describe('protocol parsing', () => {
  it('validates codecortex/status', () => {
    assert.deepEqual(parseStatus({ database: 'connected', problems: 3, solutions: 1 }), {
      database: 'connected',
      problems: 3,
      solutions: 1,
    });
    assert.deepEqual(parseStatus({ database: 'down' }), { database: 'down', problems: 0, solutions: 0 });
    assert.equal(parseStatus({ database: 'exploded', problems: 1 }), undefined);
    assert.equal(parseStatus(null), undefined);
  });

  it('keeps well-formed search results', () => {
    const results = parseSearchResponse({
      results: [
        { kind: 'solution', id: 4, title: 'Add the import', snippet: '+import os', score: 0.9, why: ['same signature'], uri: 'file:///a.py', line: 3 },
        { kind: 'knowledge', id: 'n1', title: 'Team note', snippet: 'Use pathlib', score: 0.5, why: [1, 'text match'] },
        { kind: 'solution', title: 42 },
        'junk',
      ],
    });
    assert.equal(results.length, 2);
    assert.deepEqual(results[1], {
      kind: 'knowledge',
      id: 'n1',
      title: 'Team note',
      snippet: 'Use pathlib',
      score: 0.5,
      why: ['text match'],
      uri: undefined,
      line: undefined,
    });
    assert.deepEqual(parseSearchResponse({}), []);
  });

  it('keeps well-formed solutions', () => {
    const problems = parseShowSolutionsResponse({
      problems: [{ message: 'm', signature: 's', solutions: [{ id: 1, title: 't', diff: '-a\n+b', reuseCount: 2, timeToSolveSeconds: 90 }, null] }],
    });
    assert.equal(problems[0].solutions.length, 1);
    assert.equal(problems[0].solutions[0].timeToSolveSeconds, 90);
  });
});

describe('render', () => {
  it('formats durations', () => {
    assert.equal(formatDuration(45), '45 s');
    assert.equal(formatDuration(120), '2 min');
    assert.equal(formatDuration(200), '3 min 20 s');
    assert.equal(formatDuration(7500), '2 h 5 min');
    assert.equal(formatDuration(90000), '1 d 1 h');
    assert.equal(formatDuration(-1), '–');
  });

  it('humanizes keys and escapes table cells', () => {
    assert.equal(humanize('timeSavedSeconds'), 'Time saved');
    assert.equal(humanize('topSignatures'), 'Top signatures');
    assert.equal(cell('a|b\nc'), 'a\\|b c');
  });

  it('renders statistics with figures, durations and tables', () => {
    const md = statsMarkdown({
      problems: 1200,
      solved: 40,
      timeSavedSeconds: 3660,
      topSignatures: [
        { signature: 'F401 {name} imported but unused', count: 12 },
        { signature: 'E|501', count: 3 },
      ],
      byLanguage: { python: 30, go: 10 },
      avgSolveSeconds: null,
      solutionsBySource: {},
    });
    assert.match(md, /^# CodeCortex statistics/);
    assert.match(md, /\| Problems \| 1,200 \|/);
    assert.match(md, /\| Time saved \| 1 h 1 min \|/);
    assert.match(md, /## Top signatures\n\n\| Signature \| Count \|\n\| --- \| --- \|\n\| F401 \{name\} imported but unused \| 12 \|/);
    assert.match(md, /\| E\\\|501 \| 3 \|/);
    assert.match(md, /## By language[\s\S]*\| Python \| 30 \|/);
    assert.match(md, /\| Avg solve \| – \|/);
    assert.match(md, /## Solutions by source/);
    assert.match(statsMarkdown('nope'), /no statistics/);
  });

  it('renders solutions with diffs in fences that cannot break', () => {
    assert.equal(fence('a ``` b'), '````');
    const md = solutionsMarkdown(
      [
        {
          message: 'undefined name `os`',
          signature: 'F821 undefined name {name}',
          solutions: [{ id: 7, title: 'Import os', diff: '+import os\n', reuseCount: 3, timeToSolveSeconds: 75 }],
        },
        { message: 'line too long', signature: '', solutions: [] },
      ],
      'a.py:4',
    );
    assert.match(md, /^# Past solutions — a\.py:4/);
    assert.match(md, /### Import os\n\nreused 3×, solved in 1 min 15 s\n\n```diff\n\+import os\n```/);
    assert.match(md, /_No past solution yet._/);
    assert.match(solutionsMarkdown([], 'b.py'), /No recorded problem here/);
  });

  it('renders search results for the QuickPick and as a snippet', () => {
    const item = searchItem({
      kind: 'solution',
      id: 1,
      title: 'Add the import',
      snippet: '\n  +import os\n',
      score: 0.912,
      why: ['same signature'],
      uri: 'file:///work/my%20app/a.py',
      line: 9,
    });
    assert.equal(item.label, '$(lightbulb) Add the import');
    assert.equal(item.description, 'solution · 0.91 · a.py:10');
    assert.equal(item.detail, '+import os — same signature');
    const md = snippetMarkdown({ kind: 'knowledge', id: 2, title: 'Note', snippet: 'x', score: 0.5, why: [] });
    assert.match(md, /^# Note\n\n_knowledge_ · score 0\.50\n\n```\nx\n```/);
  });
});

describe('status bar', () => {
  it('shows the database state and what was learned', () => {
    const ok = statusView('running', { database: 'connected', problems: 12, solutions: 1 });
    assert.equal(ok.text, '$(database) 12 · 1');
    assert.match(ok.tooltip, /12 problems learned, 1 solution/);
    assert.equal(ok.level, 'normal');
    assert.equal(statusView('running', { database: 'down', problems: 0, solutions: 0 }).level, 'warning');
    assert.match(statusView('running', { database: 'migrating', problems: 0, solutions: 0 }).text, /sync~spin/);
    assert.match(statusView('starting', undefined).text, /loading~spin/);
    assert.match(statusView('running', undefined).tooltip, /starting/);
    assert.equal(statusView('failed', undefined).level, 'error');
    assert.equal(statusView('stopped', undefined).level, 'warning');
  });
});
