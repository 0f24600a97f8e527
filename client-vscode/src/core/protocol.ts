/** Shapes of the messages exchanged with the CodeCortex server (see the protocol in the design). */

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

/** An LSP Diagnostic as sent on the wire. */
export interface LspDiagnostic {
  range: LspRange;
  message: string;
  severity?: number;
  code?: number | string;
  source?: string;
  [key: string]: unknown;
}

export interface DiagnosticsParams {
  uri: string;
  version: number | null;
  diagnostics: LspDiagnostic[];
}

export type DatabaseState = 'connected' | 'down' | 'migrating';

export interface StatusParams {
  database: DatabaseState;
  problems: number;
  solutions: number;
}

export interface SearchResult {
  kind: 'solution' | 'knowledge';
  id: string | number;
  title: string;
  snippet: string;
  score: number;
  why: string[];
  uri?: string;
  line?: number;
}

export interface SearchResponse {
  results: SearchResult[];
}

export interface PastSolution {
  id: string | number;
  title: string;
  diff: string;
  reuseCount: number;
  timeToSolveSeconds: number | null;
}

export interface ProblemSolutions {
  message: string;
  signature: string;
  solutions: PastSolution[];
}

export interface ShowSolutionsResponse {
  problems: ProblemSolutions[];
}

export interface AddNoteArgs {
  text: string;
  title?: string;
  tags?: string[];
}

export interface AnalyzeResponse {
  insights: number;
}

export type StatsResponse = Record<string, unknown>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates a `codecortex/status` payload; returns undefined when it is malformed. */
export function parseStatus(value: unknown): StatusParams | undefined {
  if (!isObject(value)) {
    return undefined;
  }
  const { database, problems, solutions } = value;
  if (database !== 'connected' && database !== 'down' && database !== 'migrating') {
    return undefined;
  }
  return {
    database,
    problems: typeof problems === 'number' ? problems : 0,
    solutions: typeof solutions === 'number' ? solutions : 0,
  };
}

/** Keeps the well-formed results of a `codecortex.search` answer. */
export function parseSearchResponse(value: unknown): SearchResult[] {
  if (!isObject(value) || !Array.isArray(value.results)) {
    return [];
  }
  const results: SearchResult[] = [];
  for (const item of value.results as unknown[]) {
    if (!isObject(item) || typeof item.title !== 'string') {
      continue;
    }
    const kind = item.kind === 'knowledge' ? 'knowledge' : 'solution';
    results.push({
      kind,
      id: typeof item.id === 'number' || typeof item.id === 'string' ? item.id : '',
      title: item.title,
      snippet: typeof item.snippet === 'string' ? item.snippet : '',
      score: typeof item.score === 'number' ? item.score : 0,
      why: Array.isArray(item.why) ? item.why.filter((w): w is string => typeof w === 'string') : [],
      uri: typeof item.uri === 'string' && item.uri !== '' ? item.uri : undefined,
      line: typeof item.line === 'number' ? item.line : undefined,
    });
  }
  return results;
}

/** Keeps the well-formed problems of a `codecortex.showSolutions` answer. */
export function parseShowSolutionsResponse(value: unknown): ProblemSolutions[] {
  if (!isObject(value) || !Array.isArray(value.problems)) {
    return [];
  }
  const problems: ProblemSolutions[] = [];
  for (const item of value.problems as unknown[]) {
    if (!isObject(item)) {
      continue;
    }
    const solutions: PastSolution[] = [];
    for (const s of Array.isArray(item.solutions) ? (item.solutions as unknown[]) : []) {
      if (!isObject(s)) {
        continue;
      }
      solutions.push({
        id: typeof s.id === 'number' || typeof s.id === 'string' ? s.id : '',
        title: typeof s.title === 'string' ? s.title : '',
        diff: typeof s.diff === 'string' ? s.diff : '',
        reuseCount: typeof s.reuseCount === 'number' ? s.reuseCount : 0,
        timeToSolveSeconds: typeof s.timeToSolveSeconds === 'number' ? s.timeToSolveSeconds : null,
      });
    }
    problems.push({
      message: typeof item.message === 'string' ? item.message : '',
      signature: typeof item.signature === 'string' ? item.signature : '',
      solutions,
    });
  }
  return problems;
}
