-- 012: GitHub accounts (OAuth device flow) and GitHub repositories next to local ones
-- (`codecortex github ...`). Tokens are stored AES-256-GCM encrypted (nonce || ciphertext+tag);
-- the key lives in the OS keyring or a user-only key file, never in the database.
CREATE TABLE github_accounts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE NOT NULL,
    api_url TEXT NOT NULL,                 -- https://api.github.com or https://HOST/api/v3
    web_url TEXT NOT NULL,                 -- where it signed in (and refreshes): https://HOST
    github_username TEXT,
    github_user_id BIGINT,
    installation_id BIGINT,
    scopes TEXT[] NOT NULL DEFAULT '{}',
    access_token_enc BYTEA NOT NULL,       -- AES-256-GCM encrypted
    refresh_token_enc BYTEA,
    token_expires_at TIMESTAMPTZ,
    refresh_expires_at TIMESTAMPTZ,
    key_id TEXT NOT NULL DEFAULT '',       -- fingerprint of the key that encrypted the tokens
    etag_cache JSONB NOT NULL DEFAULT '{}',  -- {"/request/path?query": {"etag": ..., ...}}
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (user_id)
);
CREATE TRIGGER update_github_accounts_updated_at BEFORE UPDATE ON github_accounts
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- A GitHub repository is a github_repos row without root_path, identified by GitHub's numeric
-- id on its server (so a rename keeps the row and what was learned from it). Logging out
-- keeps the rows (and the fixes learned from them); the account link is cleared.
ALTER TABLE github_repos ADD COLUMN account_id UUID REFERENCES github_accounts(id) ON DELETE SET NULL;
ALTER TABLE github_repos ADD COLUMN api_url TEXT;
ALTER TABLE github_repos ADD COLUMN github_id BIGINT;
CREATE UNIQUE INDEX idx_github_repos_github_id ON github_repos (api_url, github_id)
    WHERE github_id IS NOT NULL;
CREATE INDEX idx_github_repos_selected ON github_repos (account_id, selected);

-- Fixes learned from merged pull requests.
ALTER TABLE past_solutions DROP CONSTRAINT IF EXISTS past_solutions_source_check;
ALTER TABLE past_solutions ADD CONSTRAINT past_solutions_source_check
    CHECK (source IN ('live', 'cli', 'git', 'github', 'manual', 'synthesized', 'import'));

-- A developer sees only their own account on a team server (as 006).
ALTER TABLE github_accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY github_accounts_own ON github_accounts FOR ALL
    USING (user_id = (SELECT codecortex_me())) WITH CHECK (user_id = (SELECT codecortex_me()));
