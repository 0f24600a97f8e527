"""What CodeCortex knows besides fixes: docs and notes, their embeddings, the backfill job."""
