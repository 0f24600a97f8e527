"""GitHub accounts and repositories: sign in with the OAuth device flow, keep the tokens
encrypted, list and select repositories, learn fixes from merged pull requests through the
REST API (no clone).

Modules: `http` (one HTTP request, no redirects followed blindly), `api` (the REST client:
authentication, ETags, pagination, rate limits), `device` (the device authorization flow),
`vault` (AES-256-GCM encryption of tokens, the key in the OS keyring or a user-only key file),
`account` (login, refresh, logout, status), `repos` (listing and selecting repositories),
`sync` (merged pull requests through the history miner's learning code).
"""
