-- 001: the CodeCortex core schema, translated from seed 001 into valid PostgreSQL.
-- Seed tables that reference PRSNL tables never defined there (users, items, embeddings,
-- processing_jobs) get local definitions here. GitHub OAuth (github_accounts) is not created:
-- repositories are local workspaces; see README "Schema".

CREATE EXTENSION IF NOT EXISTS vector;

CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- Developers. `name` is the identity (settings `user`, else git user.email, else the OS user).
CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    display_name TEXT,
    db_role TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Repositories: GitHub ones and local workspaces alike (root path, remote, branch, HEAD).
CREATE TABLE github_repos (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    full_name TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    root_path TEXT,
    remote_url TEXT,
    item_type TEXT DEFAULT 'development',
    selected BOOLEAN DEFAULT TRUE,
    default_branch TEXT DEFAULT 'main',
    head_sha TEXT,
    last_synced_sha TEXT,
    last_fetched_at TIMESTAMPTZ,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE UNIQUE INDEX idx_github_repos_root ON github_repos (root_path) WHERE root_path IS NOT NULL;
CREATE INDEX idx_github_repos_fetch ON github_repos (last_fetched_at);
CREATE TRIGGER update_github_repos_updated_at BEFORE UPDATE ON github_repos
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- The job queue (PRSNL's unified job persistence, standalone).
CREATE TABLE processing_jobs (
    job_id VARCHAR(255) PRIMARY KEY DEFAULT gen_random_uuid()::text,
    job_type TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    payload JSONB NOT NULL DEFAULT '{}',
    result JSONB,
    progress FLOAT NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    progress_message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    last_error TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    dedupe_key TEXT,
    user_id UUID REFERENCES users(id) ON DELETE SET NULL,
    repo_id UUID REFERENCES github_repos(id) ON DELETE CASCADE,
    run_after TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    locked_by TEXT,
    lease_expires_at TIMESTAMPTZ,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_jobs_claim ON processing_jobs (priority DESC, run_after)
    WHERE status IN ('pending', 'running');
CREATE INDEX idx_jobs_type_status ON processing_jobs (job_type, status);
CREATE UNIQUE INDEX idx_jobs_dedupe ON processing_jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('pending', 'running');
CREATE TRIGGER update_processing_jobs_updated_at BEFORE UPDATE ON processing_jobs
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Knowledge items: project docs (chunked by heading), notes and saved snippets.
CREATE TABLE items (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    repo_id UUID REFERENCES github_repos(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('doc', 'note', 'snippet')),
    title TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    source_path TEXT,
    line_start INTEGER,
    line_end INTEGER,
    tags TEXT[] NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    visibility TEXT NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'team')),
    metadata JSONB NOT NULL DEFAULT '{}',
    search_tsv TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('simple', coalesce(content, '')), 'B')
    ) STORED,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_items_user_kind ON items (user_id, kind);
CREATE INDEX idx_items_source ON items (repo_id, source_path);
CREATE INDEX idx_items_search ON items USING gin (search_tsv);
CREATE TRIGGER update_items_updated_at BEFORE UPDATE ON items
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Vectors of every embedder side by side. `embedding` has no fixed dimension; each model's
-- dimension gets an HNSW expression index (see store/embeddings.py: ensure_vector_index).
CREATE TABLE embeddings (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('past_solution', 'item', 'codecortex_item')),
    owner_id UUID NOT NULL,
    model TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    embedding VECTOR NOT NULL,
    content_hash TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (owner_kind, owner_id, model)
);
CREATE INDEX idx_embeddings_owner ON embeddings (owner_id);
CREATE INDEX idx_embeddings_hnsw_384 ON embeddings
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dimension = 384;

-- Problem detection and tracking.
CREATE TABLE detected_problems (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    repo_id UUID REFERENCES github_repos(id) ON DELETE CASCADE,
    session_id UUID,
    job_id VARCHAR(255) REFERENCES processing_jobs(job_id) ON DELETE SET NULL,
    problem_type TEXT NOT NULL CHECK (problem_type IN (
        'error', 'feature_building', 'refactoring', 'debugging',
        'learning', 'integration', 'performance', 'security'
    )),
    problem_signature TEXT NOT NULL,
    signature_values JSONB NOT NULL DEFAULT '[]',
    confidence_score FLOAT CHECK (confidence_score >= 0 AND confidence_score <= 1),
    tool TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    language TEXT,
    severity INTEGER,
    file_path TEXT,
    line_number INTEGER,
    column_number INTEGER,
    end_line INTEGER,
    end_column INTEGER,
    error_message TEXT,
    code_context TEXT,
    context JSONB NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'ignored')),
    seen_count INTEGER NOT NULL DEFAULT 1,
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    detection_method TEXT,
    detected_by_agent TEXT,
    detected_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    resolved_at TIMESTAMPTZ,
    resolution_time_seconds INTEGER,
    resolution_note TEXT
);
CREATE INDEX idx_problems_user_type ON detected_problems (user_id, problem_type);
CREATE INDEX idx_problems_signature ON detected_problems (problem_signature);
CREATE INDEX idx_problems_job ON detected_problems (job_id);
CREATE INDEX idx_problems_open_file ON detected_problems (user_id, file_path, tool)
    WHERE status = 'open';

-- The last text of each file as seen by each tool: the "before" side of a learned fix.
CREATE TABLE file_snapshots (
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    file_path TEXT NOT NULL,
    tool TEXT NOT NULL,
    content TEXT NOT NULL,
    content_sha TEXT NOT NULL,
    version INTEGER,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (user_id, file_path, tool)
);

-- Past solutions: the change that made a problem go away.
CREATE TABLE past_solutions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    repo_id UUID REFERENCES github_repos(id) ON DELETE SET NULL,
    item_id UUID REFERENCES items(id) ON DELETE SET NULL,
    problem_id UUID REFERENCES detected_problems(id) ON DELETE SET NULL,
    problem_signature TEXT NOT NULL,
    signature_values JSONB NOT NULL DEFAULT '[]',
    problem_type TEXT NOT NULL,
    problem_description TEXT,
    error_pattern TEXT,
    tool TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    language TEXT,
    file_path TEXT,
    before_text TEXT NOT NULL DEFAULT '',
    after_text TEXT NOT NULL DEFAULT '',
    diff TEXT NOT NULL DEFAULT '',
    context JSONB NOT NULL DEFAULT '{}',
    source TEXT NOT NULL DEFAULT 'live'
        CHECK (source IN ('live', 'cli', 'git', 'manual', 'synthesized', 'import')),
    commit_sha TEXT,
    author TEXT,
    confidence FLOAT NOT NULL DEFAULT 1 CHECK (confidence >= 0 AND confidence <= 1),
    visibility TEXT NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'team')),
    time_to_solve_seconds INTEGER,
    prevented_future_issues BOOLEAN DEFAULT FALSE,
    reuse_count INTEGER NOT NULL DEFAULT 0,
    reject_count INTEGER NOT NULL DEFAULT 0,
    time_saved_seconds BIGINT NOT NULL DEFAULT 0,
    last_reused_at TIMESTAMPTZ,
    embed_vector_id UUID REFERENCES embeddings(id) ON DELETE SET NULL,
    content_hash TEXT NOT NULL,
    search_tsv TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(error_pattern, '')), 'A') ||
        setweight(to_tsvector('simple', coalesce(problem_description, '')), 'B') ||
        setweight(to_tsvector('simple', coalesce(diff, '')), 'C')
    ) STORED,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_past_solutions_user ON past_solutions (user_id);
CREATE INDEX idx_past_solutions_signature ON past_solutions (problem_signature);
CREATE INDEX idx_past_solutions_reuse ON past_solutions (reuse_count DESC);
CREATE INDEX idx_past_solutions_search ON past_solutions USING gin (search_tsv);
CREATE UNIQUE INDEX idx_past_solutions_dedupe ON past_solutions (user_id, content_hash);

-- What retrieval showed for a problem.
CREATE TABLE knowledge_search_results (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    problem_id UUID REFERENCES detected_problems(id) ON DELETE CASCADE,
    search_id UUID NOT NULL,
    source_type TEXT NOT NULL,
    source_id UUID,
    source_reference TEXT,
    relevance_score FLOAT NOT NULL CHECK (relevance_score >= 0 AND relevance_score <= 1),
    match_type TEXT,
    similarity_score FLOAT,
    excerpt TEXT,
    metadata JSONB,
    searched_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_search_results_problem ON knowledge_search_results (problem_id);
CREATE INDEX idx_search_results_relevance ON knowledge_search_results (relevance_score DESC);

-- Model-synthesized fixes.
CREATE TABLE synthesized_solutions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    problem_id UUID REFERENCES detected_problems(id) ON DELETE CASCADE,
    job_id VARCHAR(255) REFERENCES processing_jobs(job_id) ON DELETE SET NULL,
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    solution_code TEXT,
    edits JSONB NOT NULL DEFAULT '[]',
    explanation TEXT NOT NULL,
    confidence_score FLOAT CHECK (confidence_score >= 0 AND confidence_score <= 1),
    primary_agent TEXT NOT NULL,
    contributing_agents TEXT[],
    primary_source_id UUID,
    related_items UUID[],
    presented_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    user_action TEXT CHECK (user_action IN ('applied', 'modified', 'rejected', 'saved', 'shared')),
    action_at TIMESTAMPTZ,
    user_feedback TEXT,
    modifications_made TEXT
);
CREATE INDEX idx_solutions_problem ON synthesized_solutions (problem_id);
CREATE INDEX idx_solutions_action ON synthesized_solutions (user_action);

-- Code insights and their priorities.
CREATE TABLE code_insights (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    repo_id UUID REFERENCES github_repos(id) ON DELETE CASCADE,
    job_id VARCHAR(255) REFERENCES processing_jobs(job_id) ON DELETE SET NULL,
    type TEXT NOT NULL CHECK (type IN (
        'readme_quality', 'stale_dep', 'refactor', 'learning_path',
        'security_issue', 'performance', 'architecture', 'documentation'
    )),
    title TEXT NOT NULL,
    summary TEXT,
    detail JSONB NOT NULL,
    file_path TEXT,
    line_start INTEGER,
    line_end INTEGER,
    fingerprint_sha TEXT UNIQUE NOT NULL,
    severity TEXT DEFAULT 'info' CHECK (severity IN ('info', 'warning', 'critical')),
    status TEXT DEFAULT 'open' CHECK (status IN ('open', 'ignored', 'applied', 'expired')),
    ai_agent TEXT NOT NULL,
    confidence_score FLOAT CHECK (confidence_score >= 0 AND confidence_score <= 1),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ DEFAULT (NOW() + INTERVAL '90 days')
);
CREATE INDEX idx_insights_repo_status ON code_insights (repo_id, status);
CREATE INDEX idx_insights_type ON code_insights (type);
CREATE INDEX idx_insights_job ON code_insights (job_id);
CREATE INDEX idx_insights_file ON code_insights (repo_id, file_path);

CREATE TABLE insight_priorities (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    insight_id UUID UNIQUE REFERENCES code_insights(id) ON DELETE CASCADE,
    priority_score FLOAT NOT NULL CHECK (priority_score >= 0 AND priority_score <= 100),
    priority_category TEXT NOT NULL CHECK (priority_category IN (
        'immediate', 'this_sprint', 'backlog', 'nice_to_have'
    )),
    effort_estimate TEXT CHECK (effort_estimate IN ('minutes', 'hours', 'days', 'weeks')),
    business_impact TEXT CHECK (business_impact IN ('critical', 'high', 'medium', 'low')),
    technical_debt_cost FLOAT,
    actionability_score FLOAT CHECK (actionability_score >= 0 AND actionability_score <= 100),
    quality_factors JSONB NOT NULL DEFAULT '{}',
    calculated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_priorities_category ON insight_priorities (priority_category);
CREATE INDEX idx_priorities_score ON insight_priorities (priority_score DESC);

-- Code items: files, functions, classes of a workspace.
CREATE TABLE codecortex_items (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    item_id UUID REFERENCES items(id) ON DELETE CASCADE,
    repo_id UUID REFERENCES github_repos(id) ON DELETE CASCADE,
    file_path TEXT NOT NULL,
    file_type TEXT CHECK (file_type IN ('source', 'config', 'documentation', 'test')),
    language TEXT,
    framework TEXT,
    code_type TEXT CHECK (code_type IN ('function', 'class', 'module', 'interface', 'method')),
    name TEXT,
    qualified_name TEXT,
    parent_name TEXT,
    complexity_score FLOAT,
    documentation_score FLOAT,
    test_coverage FLOAT,
    imports TEXT[],
    exports TEXT[],
    dependencies JSONB DEFAULT '{}',
    content_hash TEXT,
    commit_sha TEXT,
    line_start INTEGER,
    line_end INTEGER,
    last_modified TIMESTAMPTZ,
    embed_vector_id UUID REFERENCES embeddings(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_codecortex_repo ON codecortex_items (repo_id);
CREATE INDEX idx_codecortex_path ON codecortex_items (repo_id, file_path);
CREATE INDEX idx_codecortex_language ON codecortex_items (language);
CREATE INDEX idx_codecortex_items_search ON codecortex_items USING gin (
    to_tsvector('simple', file_path || ' ' || coalesce(language, '') || ' ' || coalesce(framework, ''))
);
CREATE TRIGGER update_codecortex_items_updated_at BEFORE UPDATE ON codecortex_items
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE code_relationships (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    repo_id UUID REFERENCES github_repos(id) ON DELETE CASCADE,
    source_file TEXT NOT NULL,
    source_type TEXT,
    target_file TEXT NOT NULL,
    target_type TEXT,
    relationship_type TEXT NOT NULL CHECK (relationship_type IN (
        'imports', 'extends', 'implements', 'uses', 'calls', 'references'
    )),
    relationship_metadata JSONB DEFAULT '{}',
    confidence FLOAT CHECK (confidence >= 0 AND confidence <= 1),
    discovered_by TEXT,
    discovered_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_relationships_repo ON code_relationships (repo_id);
CREATE INDEX idx_relationships_source ON code_relationships (repo_id, source_file);
CREATE INDEX idx_relationships_target ON code_relationships (repo_id, target_file);
CREATE INDEX idx_relationships_type ON code_relationships (relationship_type);

-- Progressive analysis sessions (quick / medium / deep) run on the job queue.
CREATE TABLE codecortex_analysis_sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id VARCHAR(255) UNIQUE REFERENCES processing_jobs(job_id) ON DELETE SET NULL,
    repo_id UUID REFERENCES github_repos(id) ON DELETE CASCADE,
    user_id UUID REFERENCES users(id) ON DELETE SET NULL,
    phases JSONB NOT NULL DEFAULT '{
        "quick": {"status": "pending", "progress": 0, "insights_found": 0},
        "medium": {"status": "pending", "progress": 0, "insights_found": 0},
        "deep": {"status": "pending", "progress": 0, "insights_found": 0}
    }',
    insights_summary JSONB NOT NULL DEFAULT '{
        "critical": 0, "warnings": 0, "suggestions": 0, "total": 0
    }',
    file_hashes JSONB NOT NULL DEFAULT '{}',
    rate_limit_status JSONB NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    finished_at TIMESTAMPTZ
);
CREATE INDEX idx_analysis_sessions_repo ON codecortex_analysis_sessions (repo_id);
CREATE INDEX idx_analysis_sessions_job ON codecortex_analysis_sessions (job_id);

-- Cache of model outputs keyed by a hash of (template version, inputs, model).
CREATE TABLE codecortex_ai_cache (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    cache_key TEXT UNIQUE NOT NULL,
    ai_agent TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    output JSONB NOT NULL,
    token_count INTEGER,
    processing_time_ms INTEGER,
    model_used TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_ai_cache_expires ON codecortex_ai_cache (expires_at);

-- Problems a developer said are not helpful / to ignore, by signature.
CREATE TABLE ignored_signatures (
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    problem_signature TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (user_id, problem_signature)
);
