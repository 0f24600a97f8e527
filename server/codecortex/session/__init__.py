"""What the server holds per editor connection: folders, the database state, documents, identity."""
