-- 016: the other places the same change was learned in. A change identical to one already
-- stored (same signature, same code before and after: the same content hash) is one solution;
-- learned again in another place (file and enclosing definition, as `file_path` and
-- `context.symbol_path` name the first) it records that place, so that recall can tell a habit
-- (the same edit made in several places) from one place's choice; the same place again (fixed,
-- undone, fixed) adds nothing. Constant default: no table rewrite. The signature-version
-- trigger (013) also watches the new column, so recall's cached candidates see it.
ALTER TABLE past_solutions ADD COLUMN IF NOT EXISTS learned_in TEXT[] NOT NULL DEFAULT '{}';

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
                       o.signature_values, o.language, o.source, o.repo_id, o.learned_in)
                      IS DISTINCT FROM
                      (n.problem_signature, n.user_id, n.visibility, n.reuse_count,
                       n.reject_count, n.confidence, n.before_text, n.after_text, n.diff,
                       n.signature_values, n.language, n.source, n.repo_id, n.learned_in)
            ) changed, LATERAL (VALUES (changed.old_sig), (changed.new_sig)) AS s(sig)
            ORDER BY 1
            ON CONFLICT (problem_signature) DO UPDATE SET version = v.version + 1;
    END IF;
    RETURN NULL;
END $$;
