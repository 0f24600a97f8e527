-- 005: learning from git history (`codecortex learn-history`).
-- A past solution mined from a commit keeps the commit's date next to its sha and author
-- (created_at stays the time it was learned). How far a repository was mined is
-- github_repos.last_synced_sha (001).

ALTER TABLE past_solutions ADD COLUMN IF NOT EXISTS committed_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS idx_past_solutions_commit ON past_solutions (repo_id, commit_sha)
    WHERE commit_sha IS NOT NULL;
