"""Team memory: roles and row-level security on a shared server, export and import."""
