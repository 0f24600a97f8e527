-- 010: doc chunks belong to whoever indexed them and are private unless shared on purpose (the
-- shareDocs setting). Until now they were stored without an owner and visible to the whole team,
-- so on a team server every opened repository's docs became readable by everyone. Chunks stored
-- that way are removed: they are derived from the repositories' files, and each developer's
-- server indexes them again, privately, at its next start.
DELETE FROM embeddings
WHERE owner_kind = 'item'
  AND owner_id IN (SELECT id FROM items WHERE kind = 'doc' AND user_id IS NULL);
DELETE FROM items WHERE kind = 'doc' AND user_id IS NULL;

ALTER POLICY items_read ON items
    USING (user_id = (SELECT codecortex_me()) OR visibility = 'team');
ALTER POLICY items_write ON items
    USING (user_id = (SELECT codecortex_me()))
    WITH CHECK (user_id = (SELECT codecortex_me()));
