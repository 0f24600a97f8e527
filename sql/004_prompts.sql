-- 004: prompts as data (seed 002's prompts module: templates, executions, effectiveness),
-- synthesized-fix bookkeeping, deep-analysis sampling and learning paths (seed 001).
-- The API key of a model endpoint is never stored anywhere in this schema.

-- Versioned prompt templates, registered from the package (codecortex/prompts/*.json).
CREATE TABLE prompt_templates (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    description TEXT NOT NULL DEFAULT '',
    system_prompt TEXT NOT NULL,
    user_prompt TEXT NOT NULL,
    output_schema JSONB NOT NULL,
    variables TEXT[] NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (name, version)
);

-- One row per use of a template: a model call or an answer served from codecortex_ai_cache.
CREATE TABLE prompt_executions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    template_id UUID NOT NULL REFERENCES prompt_templates(id) ON DELETE CASCADE,
    user_id UUID REFERENCES users(id) ON DELETE SET NULL,
    repo_id UUID REFERENCES github_repos(id) ON DELETE SET NULL,
    problem_id UUID REFERENCES detected_problems(id) ON DELETE SET NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    cache_key TEXT,
    cached BOOLEAN NOT NULL DEFAULT FALSE,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    latency_ms INTEGER NOT NULL DEFAULT 0,
    redactions INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL CHECK (outcome IN (
        'success', 'cached', 'invalid_output', 'timeout', 'rate_limited', 'unavailable',
        'auth_error', 'request_error', 'bad_response', 'refused', 'not_configured', 'error'
    )),
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_prompt_executions_template ON prompt_executions (template_id, created_at DESC);
CREATE INDEX idx_prompt_executions_problem ON prompt_executions (problem_id);

-- Synthesized fixes: which execution produced them, where, and the change they make.
ALTER TABLE synthesized_solutions
    ADD COLUMN execution_id UUID REFERENCES prompt_executions(id) ON DELETE SET NULL,
    ADD COLUMN past_solution_id UUID REFERENCES past_solutions(id) ON DELETE SET NULL,
    ADD COLUMN file_path TEXT,
    ADD COLUMN document_version INTEGER,
    ADD COLUMN language TEXT,
    ADD COLUMN before_text TEXT,
    ADD COLUMN after_text TEXT,
    ADD COLUMN diff TEXT,
    ADD COLUMN contributing_sources JSONB NOT NULL DEFAULT '[]';
CREATE INDEX idx_synthesized_execution ON synthesized_solutions (execution_id);

-- Acceptance per template version: what developers did with the fixes each version produced.
-- acceptance_rate = (applied + modified) / presented.
CREATE VIEW prompt_effectiveness AS
SELECT
    t.name AS template_name,
    t.version AS template_version,
    COUNT(DISTINCT e.id) AS executions,
    COUNT(DISTINCT e.id) FILTER (WHERE e.outcome = 'success') AS model_answers,
    COUNT(DISTINCT e.id) FILTER (WHERE e.outcome = 'cached') AS cache_hits,
    COUNT(DISTINCT e.id) FILTER (WHERE e.outcome NOT IN ('success', 'cached')) AS failures,
    COUNT(DISTINCT s.id) AS presented,
    COUNT(DISTINCT s.id) FILTER (WHERE s.user_action = 'applied') AS applied,
    COUNT(DISTINCT s.id) FILTER (WHERE s.user_action = 'modified') AS modified,
    COUNT(DISTINCT s.id) FILTER (WHERE s.user_action = 'rejected') AS rejected,
    CASE WHEN COUNT(DISTINCT s.id) = 0 THEN NULL ELSE
        (COUNT(DISTINCT s.id) FILTER (WHERE s.user_action IN ('applied', 'modified')))::float
        / COUNT(DISTINCT s.id)
    END AS acceptance_rate,
    AVG(e.latency_ms) FILTER (WHERE e.outcome = 'success') AS avg_latency_ms,
    COALESCE(SUM(e.prompt_tokens + e.completion_tokens), 0) AS tokens
FROM prompt_templates t
LEFT JOIN prompt_executions e ON e.template_id = t.id
LEFT JOIN synthesized_solutions s ON s.execution_id = e.id
GROUP BY t.name, t.version;

-- Deep analysis: which files were sampled for the model within the token budget.
CREATE TABLE IF NOT EXISTS analysis_sampling (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id UUID REFERENCES codecortex_analysis_sessions(id) ON DELETE CASCADE,
    repo_id UUID REFERENCES github_repos(id) ON DELETE CASCADE,
    execution_id UUID REFERENCES prompt_executions(id) ON DELETE SET NULL,
    sampling_strategy TEXT NOT NULL CHECK (sampling_strategy IN (
        'full_docs_sample_code', 'smart_sampling', 'progressive_sampling', 'docs_only'
    )),
    total_files INTEGER NOT NULL,
    files_sampled TEXT[] NOT NULL,
    files_skipped TEXT[] NOT NULL DEFAULT '{}',
    sampling_metadata JSONB NOT NULL DEFAULT '{}',
    token_budget INTEGER,
    token_usage INTEGER,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_sampling_session ON analysis_sampling (session_id);
CREATE INDEX IF NOT EXISTS idx_sampling_repo ON analysis_sampling (repo_id, created_at DESC);

-- Learning paths: weekly modules of lessons built from a developer's recurring problems.
CREATE TABLE codecortex_learning_paths (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    repo_id UUID REFERENCES github_repos(id) ON DELETE SET NULL,
    job_id VARCHAR(255) REFERENCES processing_jobs(job_id) ON DELETE SET NULL,
    execution_id UUID REFERENCES prompt_executions(id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    duration_weeks INTEGER NOT NULL DEFAULT 4 CHECK (duration_weeks >= 1),
    difficulty_level TEXT CHECK (difficulty_level IN ('beginner', 'intermediate', 'advanced')),
    modules JSONB NOT NULL,
    user_code_references JSONB NOT NULL DEFAULT '{}',
    progress JSONB NOT NULL DEFAULT '{"completed_lessons": [], "current_week": 1}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    completed_at TIMESTAMPTZ
);
CREATE INDEX idx_learning_paths_user ON codecortex_learning_paths (user_id, created_at DESC);
CREATE TRIGGER update_codecortex_learning_paths_updated_at BEFORE UPDATE
    ON codecortex_learning_paths FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
