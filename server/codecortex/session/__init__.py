"""What the server holds per editor connection (`service.Service`, the façade `lsp/` calls):
folders and identity, the database state, documents (queue and cached views), and the engine
calls behind the editor's requests and commands."""
