-- 013: a version number per signature of its stored fixes, raised by every change that recall
-- could see (a fix stored, deleted, reused, rejected, shared or made private), so that recall
-- keeps each signature's candidates prepared in memory and reads them again only after such a
-- change: one primary-key lookup per signature instead of up to 300 rows on every recall
-- (bench/retrieval.py). It names no user and holds no code.
CREATE TABLE IF NOT EXISTS solution_signature_versions (
    problem_signature TEXT PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 1
);

INSERT INTO solution_signature_versions (problem_signature)
    SELECT DISTINCT problem_signature FROM past_solutions
    ON CONFLICT (problem_signature) DO NOTHING;

-- Security definer: a developer's own role (team mode) raises the version of a signature
-- through the trigger only; statement-level, so a bulk insert raises each signature once.
CREATE OR REPLACE FUNCTION codecortex_bump_signature_versions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO solution_signature_versions AS v (problem_signature)
            SELECT DISTINCT problem_signature FROM new_rows ORDER BY 1
            ON CONFLICT (problem_signature) DO UPDATE SET version = v.version + 1;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO solution_signature_versions AS v (problem_signature)
            SELECT DISTINCT problem_signature FROM old_rows ORDER BY 1
            ON CONFLICT (problem_signature) DO UPDATE SET version = v.version + 1;
    ELSE
        -- only the columns a candidate is chosen, ranked, replayed or shown by
        INSERT INTO solution_signature_versions AS v (problem_signature)
            SELECT DISTINCT s.sig FROM (
                SELECT o.problem_signature AS old_sig, n.problem_signature AS new_sig
                FROM old_rows o JOIN new_rows n ON n.id = o.id
                WHERE (o.problem_signature, o.user_id, o.visibility, o.reuse_count,
                       o.reject_count, o.confidence, o.before_text, o.after_text, o.diff,
                       o.signature_values, o.language, o.source, o.repo_id)
                      IS DISTINCT FROM
                      (n.problem_signature, n.user_id, n.visibility, n.reuse_count,
                       n.reject_count, n.confidence, n.before_text, n.after_text, n.diff,
                       n.signature_values, n.language, n.source, n.repo_id)
            ) changed, LATERAL (VALUES (changed.old_sig), (changed.new_sig)) AS s(sig)
            ORDER BY 1
            ON CONFLICT (problem_signature) DO UPDATE SET version = v.version + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER past_solutions_versions_insert AFTER INSERT ON past_solutions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codecortex_bump_signature_versions();
CREATE TRIGGER past_solutions_versions_update AFTER UPDATE ON past_solutions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codecortex_bump_signature_versions();
CREATE TRIGGER past_solutions_versions_delete AFTER DELETE ON past_solutions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codecortex_bump_signature_versions();
