-- 011: signature history read from the most recent occurrences only, so that recall does not
-- slow down as the memory grows (bench/retrieval.py at 1,000,000 solutions): one index range
-- per signature and developer, newest first, answered from the index alone.
CREATE INDEX IF NOT EXISTS idx_problems_signature_recent ON detected_problems
    (problem_signature, user_id, detected_at DESC)
    INCLUDE (status, resolution_time_seconds, resolved_at);
-- 007's index (same columns, unordered) is superseded by this one.
DROP INDEX IF EXISTS idx_problems_signature_history;
