/** Markdown and QuickPick text for what the server returns. */
import type { ProblemSolutions, SearchResult } from './protocol';

/** "2 h 5 min", "3 min 20 s", "45 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return '–';
  }
  const s = Math.round(seconds);
  if (s < 60) {
    return `${s} s`;
  }
  if (s < 3600) {
    const rest = s % 60;
    return rest === 0 ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 60)} min ${rest} s`;
  }
  if (s < 86400) {
    const min = Math.floor((s % 3600) / 60);
    return min === 0 ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 3600)} h ${min} min`;
  }
  const h = Math.floor((s % 86400) / 3600);
  return h === 0 ? `${Math.floor(s / 86400)} d` : `${Math.floor(s / 86400)} d ${h} h`;
}

/** "timeSavedSeconds" -> "Time saved", "topSignatures" -> "Top signatures". */
export function humanize(key: string): string {
  const words = key
    .replace(/Seconds$/, '')
    .replace(/_/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Text safe inside a Markdown table cell. */
export function cell(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function scalar(key: string, value: unknown): string {
  if (value === null || value === undefined) {
    return '–';
  }
  if (typeof value === 'number' && /Seconds$/.test(key)) {
    return formatDuration(value);
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(2);
  }
  return cell(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function table(rows: unknown[]): string[] {
  const objects = rows.filter(isPlainObject);
  if (objects.length !== rows.length || objects.length === 0) {
    return rows.map((r) => `- ${cell(r)}`);
  }
  const columns: string[] = [];
  for (const row of objects) {
    for (const key of Object.keys(row)) {
      if (!columns.includes(key)) {
        columns.push(key);
      }
    }
  }
  return [
    `| ${columns.map(humanize).join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...objects.map((row) => `| ${columns.map((c) => (c in row ? scalar(c, row[c]) : '')).join(' | ')} |`),
  ];
}

function section(title: string, level: number, data: Record<string, unknown>): string[] {
  const lines = [`${'#'.repeat(level)} ${title}`, ''];
  const scalars = Object.entries(data).filter(([, v]) => !isPlainObject(v) && !Array.isArray(v));
  if (scalars.length > 0) {
    lines.push('| | |', '| --- | ---: |');
    for (const [key, value] of scalars) {
      lines.push(`| ${humanize(key)} | ${scalar(key, value)} |`);
    }
    lines.push('');
  }
  for (const [key, value] of Object.entries(data)) {
    if (Array.isArray(value)) {
      lines.push(`${'#'.repeat(level + 1)} ${humanize(key)}`, '');
      lines.push(...(value.length === 0 ? ['_none_'] : table(value)), '');
    } else if (isPlainObject(value)) {
      lines.push(...section(humanize(key), level + 1, value));
    }
  }
  return lines;
}

/** The `codecortex.stats` object as a Markdown document. */
export function statsMarkdown(stats: unknown): string {
  if (!isPlainObject(stats)) {
    return '# CodeCortex statistics\n\nThe server returned no statistics.\n';
  }
  return section('CodeCortex statistics', 1, stats).join('\n');
}

/** A fence that the text does not contain. */
export function fence(text: string): string {
  let f = '```';
  while (text.includes(f)) {
    f += '`';
  }
  return f;
}

/** The `codecortex.showSolutions` answer as a Markdown document. */
export function solutionsMarkdown(problems: ProblemSolutions[], where: string): string {
  const lines = [`# Past solutions — ${where}`, ''];
  if (problems.length === 0) {
    lines.push('No recorded problem here.');
    return lines.join('\n') + '\n';
  }
  for (const problem of problems) {
    lines.push(`## ${cell(problem.message)}`, '');
    if (problem.signature !== '') {
      lines.push(`Signature: \`${problem.signature.replace(/`/g, "'")}\``, '');
    }
    if (problem.solutions.length === 0) {
      lines.push('_No past solution yet._', '');
      continue;
    }
    for (const solution of problem.solutions) {
      const facts = [`reused ${solution.reuseCount}×`];
      if (solution.timeToSolveSeconds !== null) {
        facts.push(`solved in ${formatDuration(solution.timeToSolveSeconds)}`);
      }
      lines.push(`### ${solution.title || `Solution ${solution.id}`}`, '', facts.join(', '), '');
      if (solution.diff !== '') {
        const f = fence(solution.diff);
        lines.push(`${f}diff`, solution.diff.replace(/\n$/, ''), f, '');
      }
    }
  }
  return lines.join('\n');
}

/** A search result (without location) as a Markdown document. */
export function snippetMarkdown(result: SearchResult): string {
  const lines = [`# ${result.title}`, '', `_${result.kind}_ · score ${result.score.toFixed(2)}`, ''];
  if (result.why.length > 0) {
    lines.push(...result.why.map((w) => `- ${w}`), '');
  }
  const f = fence(result.snippet);
  lines.push(f, result.snippet.replace(/\n$/, ''), f, '');
  return lines.join('\n');
}

export interface SearchItem {
  label: string;
  description: string;
  detail: string;
}

/** QuickPick texts for one search result. */
export function searchItem(result: SearchResult): SearchItem {
  const icon = result.kind === 'solution' ? '$(lightbulb)' : '$(book)';
  const firstLine =
    result.snippet
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== '') ?? '';
  const where =
    result.uri !== undefined
      ? `${decodeURIComponent(result.uri.replace(/^.*\//, ''))}${result.line !== undefined ? `:${result.line + 1}` : ''}`
      : '';
  return {
    label: `${icon} ${result.title}`,
    description: [result.kind, result.score.toFixed(2), where].filter((p) => p !== '').join(' · '),
    detail: [firstLine, ...result.why].filter((p) => p !== '').join(' — '),
  };
}
