-- 002: storage for the analysis engine (codecortex.analysis_pipeline, store/analysis.py).
--
-- codecortex_items: one row per analysed file (code_type 'module') and one per function, method,
-- class or interface in it. The file row keeps the engine's FileAnalysis JSON in `analysis`, so
-- that the workspace model (imports, symbols, calls) is rebuilt without parsing again, and the
-- file's sha256 in `content_hash`, so that unchanged files are skipped by the next analysis.
ALTER TABLE codecortex_items ADD COLUMN analysis JSONB;
CREATE UNIQUE INDEX idx_codecortex_items_file ON codecortex_items (repo_id, file_path)
    WHERE code_type = 'module';

-- code_insights: `fingerprint` is the engine's fingerprint (rule + file + enclosing symbol +
-- normalised snippet, never line numbers); `fingerprint_sha` (globally unique) is
-- sha256(repo id || fingerprint), so that two checkouts can hold the same finding.
-- `scope` says which analysis step owns the row: 'file' (per-file rules, expired when the file is
-- analysed again without it), 'project' (import cycles, README, dependencies: expired when the
-- medium phase runs without it), 'deep' (model insights, owned by the deep phase).
ALTER TABLE code_insights ADD COLUMN fingerprint TEXT;
ALTER TABLE code_insights ADD COLUMN rule TEXT;
ALTER TABLE code_insights ADD COLUMN scope TEXT NOT NULL DEFAULT 'file'
    CHECK (scope IN ('file', 'project', 'deep'));
ALTER TABLE code_insights ADD COLUMN status_changed_at TIMESTAMPTZ;
CREATE INDEX idx_insights_repo_scope ON code_insights (repo_id, scope, status);

-- codecortex_analysis_sessions: what was asked (root, last phase, thresholds) and what happened.
ALTER TABLE codecortex_analysis_sessions ADD COLUMN root_path TEXT;
ALTER TABLE codecortex_analysis_sessions ADD COLUMN target_phase TEXT NOT NULL DEFAULT 'medium'
    CHECK (target_phase IN ('quick', 'medium', 'deep'));
ALTER TABLE codecortex_analysis_sessions ADD COLUMN thresholds JSONB NOT NULL DEFAULT '{}';
ALTER TABLE codecortex_analysis_sessions ADD COLUMN error TEXT;
ALTER TABLE codecortex_analysis_sessions ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW();
CREATE INDEX idx_analysis_sessions_status ON codecortex_analysis_sessions (repo_id, status);
