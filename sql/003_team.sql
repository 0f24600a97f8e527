-- 003: team memory with privacy, success metrics and achievements.
--
-- Row-level security is enabled here on every table that holds a developer's own rows. It has no
-- effect for the embedded single-user database or for any connection as the tables' owner (or a
-- superuser): owners bypass RLS. On a shared server `codecortex team init` creates the group role
-- `codecortex_developer` and `codecortex team add-user` one login role per developer, recorded in
-- users.db_role; connected as such a role, a developer sees their own rows and the team's rows,
-- never another developer's private rows, whatever SQL they write.

-- The users row of the connected role (NULL for owners, superusers and unmapped roles).
CREATE OR REPLACE FUNCTION codecortex_me() RETURNS UUID
LANGUAGE sql STABLE AS $$
    SELECT id FROM users WHERE db_role = current_user LIMIT 1
$$;

CREATE UNIQUE INDEX idx_users_db_role ON users (db_role) WHERE db_role IS NOT NULL;

-- Replays applied: one row per past fix applied by a developer (code action or `check --fix`).
-- Written by a trigger whenever a solution's reuse_count goes up, so every caller is covered.
CREATE TABLE codecortex_replays (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    solution_id UUID REFERENCES past_solutions(id) ON DELETE CASCADE,
    solution_owner_id UUID REFERENCES users(id) ON DELETE SET NULL,
    original_seconds INTEGER,
    time_saved_seconds BIGINT NOT NULL DEFAULT 0,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_replays_user ON codecortex_replays (user_id, applied_at);
CREATE INDEX idx_replays_solution ON codecortex_replays (solution_id);

CREATE OR REPLACE FUNCTION codecortex_record_replay() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.reuse_count > OLD.reuse_count THEN
        INSERT INTO codecortex_replays (user_id, solution_id, solution_owner_id, original_seconds,
                                        time_saved_seconds)
        VALUES (COALESCE(codecortex_me(),
                         NULLIF(current_setting('codecortex.user_id', true), '')::uuid,
                         NEW.user_id),
                NEW.id, NEW.user_id, NEW.time_to_solve_seconds,
                GREATEST(NEW.time_saved_seconds - OLD.time_saved_seconds, 0));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER past_solutions_record_replay AFTER UPDATE OF reuse_count ON past_solutions
    FOR EACH ROW EXECUTE FUNCTION codecortex_record_replay();

-- A developer may bump the counters of a teammate's shared solution (reuse, reject, time saved),
-- nothing else of it.
CREATE OR REPLACE FUNCTION codecortex_guard_shared_update() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
DECLARE
    me UUID := codecortex_me();
    counters TEXT[] := ARRAY['reuse_count', 'reject_count', 'time_saved_seconds',
                             'last_reused_at', 'embed_vector_id', 'search_tsv'];
BEGIN
    IF me IS NOT NULL AND OLD.user_id IS DISTINCT FROM me
       AND (to_jsonb(NEW) - counters) IS DISTINCT FROM (to_jsonb(OLD) - counters) THEN
        RAISE EXCEPTION 'only the owner can change this solution'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER past_solutions_guard_shared BEFORE UPDATE ON past_solutions
    FOR EACH ROW EXECUTE FUNCTION codecortex_guard_shared_update();

-- Success metrics (seed 001), one row per developer, recomputed by codecortex.metrics.
CREATE TABLE codecortex_success_metrics (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    problems_detected INTEGER NOT NULL DEFAULT 0,
    total_problems_solved INTEGER NOT NULL DEFAULT 0,
    total_time_saved_seconds BIGINT NOT NULL DEFAULT 0,
    average_resolution_time_seconds INTEGER,
    insights_applied INTEGER NOT NULL DEFAULT 0,
    bugs_prevented INTEGER NOT NULL DEFAULT 0,
    refactorings_completed INTEGER NOT NULL DEFAULT 0,
    solutions_captured INTEGER NOT NULL DEFAULT 0,
    solutions_reused INTEGER NOT NULL DEFAULT 0,
    replays_applied INTEGER NOT NULL DEFAULT 0,
    patterns_discovered INTEGER NOT NULL DEFAULT 0,
    learning_paths_completed INTEGER NOT NULL DEFAULT 0,
    skills_improved TEXT[] NOT NULL DEFAULT '{}',
    roi_multiplier FLOAT,
    trust_score FLOAT DEFAULT 0.5,
    weekly JSONB NOT NULL DEFAULT '[]',
    last_calculated TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Achievements (seed 001); announced_at: when the editor showed it (once).
CREATE TABLE codecortex_achievements (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    achievement_type TEXT NOT NULL CHECK (achievement_type IN (
        'first_repo', 'pattern_hunter', 'insight_master', 'speed_demon',
        'quality_guardian', 'knowledge_sharer', 'learning_champion'
    )),
    achievement_data JSONB NOT NULL,
    achieved_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    announced_at TIMESTAMPTZ,
    UNIQUE (user_id, achievement_type)
);
CREATE INDEX idx_achievements_user ON codecortex_achievements (user_id);

-- Row-level security. Policies use (SELECT codecortex_me()) so it is evaluated once per query.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_read ON users FOR SELECT USING (true);

ALTER TABLE past_solutions ENABLE ROW LEVEL SECURITY;
CREATE POLICY solutions_read ON past_solutions FOR SELECT
    USING (user_id = (SELECT codecortex_me()) OR visibility = 'team');
CREATE POLICY solutions_insert ON past_solutions FOR INSERT
    WITH CHECK (user_id = (SELECT codecortex_me()));
CREATE POLICY solutions_update ON past_solutions FOR UPDATE
    USING (user_id = (SELECT codecortex_me()) OR visibility = 'team')
    WITH CHECK (user_id = (SELECT codecortex_me()) OR visibility = 'team');
CREATE POLICY solutions_delete ON past_solutions FOR DELETE
    USING (user_id = (SELECT codecortex_me()));

ALTER TABLE items ENABLE ROW LEVEL SECURITY;
CREATE POLICY items_read ON items FOR SELECT
    USING (user_id = (SELECT codecortex_me()) OR visibility = 'team' OR kind = 'doc');
CREATE POLICY items_write ON items FOR ALL
    USING (user_id = (SELECT codecortex_me()) OR kind = 'doc')
    WITH CHECK (user_id = (SELECT codecortex_me()) OR (kind = 'doc' AND user_id IS NULL));

ALTER TABLE embeddings ENABLE ROW LEVEL SECURITY;
CREATE POLICY embeddings_visible ON embeddings FOR ALL
    USING (owner_kind = 'codecortex_item'
           OR (owner_kind = 'past_solution'
               AND EXISTS (SELECT 1 FROM past_solutions s WHERE s.id = owner_id))
           OR (owner_kind = 'item' AND EXISTS (SELECT 1 FROM items i WHERE i.id = owner_id)));

ALTER TABLE detected_problems ENABLE ROW LEVEL SECURITY;
CREATE POLICY problems_own ON detected_problems FOR ALL
    USING (user_id = (SELECT codecortex_me())) WITH CHECK (user_id = (SELECT codecortex_me()));

ALTER TABLE file_snapshots ENABLE ROW LEVEL SECURITY;
CREATE POLICY snapshots_own ON file_snapshots FOR ALL
    USING (user_id = (SELECT codecortex_me())) WITH CHECK (user_id = (SELECT codecortex_me()));

ALTER TABLE ignored_signatures ENABLE ROW LEVEL SECURITY;
CREATE POLICY ignored_own ON ignored_signatures FOR ALL
    USING (user_id = (SELECT codecortex_me())) WITH CHECK (user_id = (SELECT codecortex_me()));

ALTER TABLE synthesized_solutions ENABLE ROW LEVEL SECURITY;
CREATE POLICY synthesized_own ON synthesized_solutions FOR ALL
    USING (user_id = (SELECT codecortex_me())) WITH CHECK (user_id = (SELECT codecortex_me()));

ALTER TABLE knowledge_search_results ENABLE ROW LEVEL SECURITY;
CREATE POLICY search_results_own ON knowledge_search_results FOR ALL
    USING (EXISTS (SELECT 1 FROM detected_problems p WHERE p.id = problem_id));

ALTER TABLE codecortex_replays ENABLE ROW LEVEL SECURITY;
CREATE POLICY replays_own ON codecortex_replays FOR ALL
    USING (user_id = (SELECT codecortex_me())) WITH CHECK (user_id = (SELECT codecortex_me()));

ALTER TABLE codecortex_success_metrics ENABLE ROW LEVEL SECURITY;
CREATE POLICY metrics_own ON codecortex_success_metrics FOR ALL
    USING (user_id = (SELECT codecortex_me())) WITH CHECK (user_id = (SELECT codecortex_me()));

ALTER TABLE codecortex_achievements ENABLE ROW LEVEL SECURITY;
CREATE POLICY achievements_own ON codecortex_achievements FOR ALL
    USING (user_id = (SELECT codecortex_me())) WITH CHECK (user_id = (SELECT codecortex_me()));
