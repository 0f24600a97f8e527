-- 006: row-level security (as in 003) for tables added by later migrations that hold a
-- developer's own rows. Table owners and superusers bypass it, as everywhere else.
ALTER TABLE prompt_executions ENABLE ROW LEVEL SECURITY;
CREATE POLICY prompt_executions_own ON prompt_executions FOR ALL
    USING (user_id IS NULL OR user_id = (SELECT codecortex_me()))
    WITH CHECK (user_id IS NULL OR user_id = (SELECT codecortex_me()));

ALTER TABLE codecortex_learning_paths ENABLE ROW LEVEL SECURITY;
CREATE POLICY learning_paths_own ON codecortex_learning_paths FOR ALL
    USING (user_id = (SELECT codecortex_me())) WITH CHECK (user_id = (SELECT codecortex_me()));
