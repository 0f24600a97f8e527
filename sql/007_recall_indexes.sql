-- 007: indexes for recall on large memories (bench/retrieval.py: 100,000 solutions).
-- The best solutions of one signature, in the order retrieval ranks them, without reading
-- every solution of that signature.
CREATE INDEX IF NOT EXISTS idx_past_solutions_signature_rank ON past_solutions
    (problem_signature, (reuse_count - 2 * reject_count) DESC, confidence DESC, created_at DESC);
-- "seen 4×, fixed in 2 min last time" from the index alone.
CREATE INDEX IF NOT EXISTS idx_problems_signature_history ON detected_problems
    (problem_signature, user_id) INCLUDE (status, resolution_time_seconds, resolved_at, detected_at);
