"""GitHub accounts and repositories against a fake GitHub on 127.0.0.1 (tests/helpers/fakegithub.py):
the real `codecortex github ...` CLI, real ruff, the real database. Every CLI run gets proxies
pointing at a closed local port, so a request to any other host than the fake would fail."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import codecortex_exe
from fakegithub import CLIENT_ID, FakeGitHub
from psycopg.rows import dict_row

E711_BAD = "def total(rows):\n    if rows == None:\n        return 0\n    return sum(rows)\n"
F401_BAD = "import os\nimport sys\n\n\ndef argv():\n    return sys.argv\n"
RUFF_TOML = '[lint]\nselect = ["E", "F"]\n'


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    server = FakeGitHub(page_size=2).start()
    yield server
    server.stop()


def gh_env(cli_env: dict[str, str], db: str, fake: FakeGitHub, data: Path, **extra: str) -> dict:
    return {
        **cli_env,
        "CODECORTEX_DATABASE_URL": db,
        "CODECORTEX_DATA_DIR": str(data),
        "CODECORTEX_USER": "dev@example.com",
        "CODECORTEX_GITHUB_URL": fake.base,
        "CODECORTEX_GITHUB_CLIENT_ID": CLIENT_ID,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        # nothing but the fake: any other host goes to a closed port and fails
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "no_proxy": "127.0.0.1",
        "NO_PROXY": "127.0.0.1",
        **extra,
    }


def cc(env: dict, *args: str, cwd: Path | None = None, timeout: float = 180) -> Any:
    return subprocess.run(
        [codecortex_exe(), *args] if args[0] in ("check", "stats") else [codecortex_exe(), "github", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def rows(db: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(db, row_factory=dict_row) as conn:
        return [dict(r) for r in conn.execute(query, params).fetchall()]


def assert_no_plaintext(db: str, secrets: list[str]) -> None:
    """No token anywhere in the database: every text, JSON and bytea column of every table."""
    cols = rows(
        db,
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' AND data_type IN"
        " ('text', 'character varying', 'jsonb', 'json', 'bytea', 'ARRAY')",
    )
    assert any(c["table_name"] == "github_accounts" for c in cols)
    with psycopg.connect(db) as conn:
        for c in cols:
            t, col = c["table_name"], c["column_name"]
            for (value,) in conn.execute(f'SELECT "{col}"::text FROM "{t}"').fetchall():
                if value is None:
                    continue
                for s in secrets:
                    assert s not in value, f"{t}.{col} holds a token"
                    assert s.encode().hex() not in value, f"{t}.{col} holds a token (bytes)"


def git_init(path: Path) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    return path


def login(env: dict, fake: FakeGitHub) -> Any:
    done = cc(env, "login", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_login_status_logout_and_tokens_at_rest(cli_env, fresh_db, fake, tmp_path) -> None:
    fake.poll_script = ["pending", "slow_down", "ok"]
    env = gh_env(cli_env, fresh_db, fake, tmp_path / "data")
    done = login(env, fake)
    assert f"open {fake.base}/login/device and enter the code WDJB-MJHT" in done.stdout
    assert "signed in to GitHub as octo" in done.stdout
    assert "GitHub asked to poll more slowly: every 2 s" in done.stderr
    # polled at the server's interval (1 s), then more slowly after slow_down (2 s)
    gaps = [b - a for a, b in zip(fake.poll_times, fake.poll_times[1:], strict=False)]
    assert len(fake.poll_times) == 3 and gaps[0] >= 0.9 and gaps[1] >= 1.9, gaps
    key = tmp_path / "data" / "github-token.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600  # the key-file path (no keyring)
    (account,) = rows(fresh_db, "SELECT * FROM github_accounts")
    assert account["github_username"] == "octo"
    assert account["scopes"] == ["repo", "read:user"]
    assert account["token_expires_at"] is not None
    enc = bytes(account["access_token_enc"])
    assert len(enc) > 12 + 16 and fake.issued[0].encode() not in enc
    assert_no_plaintext(fresh_db, fake.issued)

    status = cc(env, "status")
    assert status.returncode == 0, status.stderr
    assert "as octo" in status.stdout and "scopes: repo, read:user" in status.stdout
    assert "token expires: 20" in status.stdout and "(refreshable)" in status.stdout
    assert f"key file {key}" in status.stdout
    for out in (done, status):
        assert not any(t in out.stdout + out.stderr for t in fake.issued)

    # a second login encrypts with a fresh nonce: same key, different ciphertext layout
    login(env, fake)
    (again,) = rows(fresh_db, "SELECT access_token_enc FROM github_accounts")
    assert bytes(again["access_token_enc"])[:12] != enc[:12]

    out = cc(env, "logout")
    assert out.returncode == 0 and "tokens deleted" in out.stdout
    assert rows(fresh_db, "SELECT * FROM github_accounts") == []
    status = cc(env, "status")
    assert status.returncode == 1 and "not signed in" in status.stdout


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (["pending", "denied"], "sign-in was cancelled on GitHub (access denied)"),
        (["expired"], "the code expired before it was entered"),
    ],
)
def test_login_refused(cli_env, fresh_db, fake, tmp_path, script, message) -> None:
    fake.poll_script = script
    env = gh_env(cli_env, fresh_db, fake, tmp_path / "data")
    done = cc(env, "login", timeout=60)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert message in line and "Traceback" not in done.stderr
    assert rows(fresh_db, "SELECT * FROM github_accounts") == []


def test_login_without_client_id_or_with_a_wrong_one(cli_env, fresh_db, fake, tmp_path) -> None:
    env = gh_env(cli_env, fresh_db, fake, tmp_path / "data", CODECORTEX_GITHUB_CLIENT_ID="")
    done = cc(env, "login")
    assert done.returncode == 2 and "CODECORTEX_GITHUB_CLIENT_ID" in done.stderr
    env["CODECORTEX_GITHUB_CLIENT_ID"] = "nope"
    done = cc(env, "login")
    assert done.returncode == 2 and "The client_id is not valid." in done.stderr
    assert "Traceback" not in done.stderr


def test_the_key_in_an_os_keyring(cli_env, fresh_db, fake, tmp_path) -> None:
    pytest.importorskip("keyrings.alt")
    env = gh_env(
        cli_env, fresh_db, fake, tmp_path / "data",
        PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
        XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"),
    )  # fmt: skip
    login(env, fake)
    assert not (tmp_path / "data" / "github-token.key").exists()
    stored = list((tmp_path / "xdg").rglob("*.cfg"))
    assert stored and "codecortex" in stored[0].read_text()
    status = cc(env, "status")
    assert "OS keyring (keyrings.alt.file.PlaintextKeyring)" in status.stdout
    out = cc(env, "repos")  # the key from the keyring decrypts the token
    assert out.returncode == 0, out.stderr
    assert_no_plaintext(fresh_db, fake.issued)


def setup_repos(fake: FakeGitHub) -> dict[str, Any]:
    app = fake.add_repo(
        "octo/app", {"ruff.toml": RUFF_TOML, "app/report.py": E711_BAD, "app/util.py": F401_BAD},
        stars=12, description="The app", topics=["web", "tools"],
    )  # fmt: skip
    lib = fake.add_repo("octo/lib", {"lib.py": F401_BAD}, language="Python", stars=3)
    docs = fake.add_repo("octo/docs", {"README.md": "# docs\n"}, language=None)
    fix = fake.merge_pr(
        app, "Compare with None by identity",
        {"app/report.py": E711_BAD.replace("rows == None", "rows is None")},
    )  # fmt: skip
    fake.merge_pr(app, "Unmerged idea", {"app/util.py": "x = 1\n"}, merged=False)
    fake.merge_pr(app, "Docs only", {"README.md": "hello\n"})
    return {"app": app, "lib": lib, "docs": docs, "fix": fix}


def test_repos_sync_and_replay_on_a_local_file(cli_env, fresh_db, fake, tmp_path) -> None:
    made = setup_repos(fake)
    env = gh_env(cli_env, fresh_db, fake, tmp_path / "data")
    login(env, fake)
    listed = cc(env, "repos")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines == [
        "[ ] octo/app  Python  ★12  #web #tools  The app",
        "[ ] octo/docs  -  ★0",
        "[ ] octo/lib  Python  ★3",
    ]
    assert len(fake.api_requests("^/api/v3/user/repos$")) == 2  # two pages of two
    (meta,) = rows(fresh_db, "SELECT metadata FROM github_repos WHERE full_name = 'octo/app'")
    assert meta["metadata"]["topics"] == ["web", "tools"]
    assert meta["metadata"]["description"] == "The app"
    again = cc(env, "repos")
    assert "2 of 2 page(s) unchanged" in again.stderr and again.stdout == listed.stdout

    bad = cc(env, "select", "octo/nope")
    assert bad.returncode == 2 and "not among your repositories: octo/nope" in bad.stderr
    sel = cc(env, "select", "octo/app", "octo/lib")
    assert sel.returncode == 0 and "selected: octo/app, octo/lib" in sel.stdout

    fake.requests.clear()
    done = cc(env, "sync", "--tools", "ruff")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "octo/app: learned 1 fix(es) from 2 pull request(s)" in done.stdout
    assert "octo/lib: up to date" in done.stdout  # no merged pull requests
    learned = rows(fresh_db, "SELECT * FROM past_solutions")
    assert [(r["tool"], r["code"], r["source"], r["commit_sha"]) for r in learned] == [
        ("ruff", "E711", "github", made["fix"].head_sha)
    ]
    assert "-    if rows == None:" in learned[0]["diff"]
    assert learned[0]["author"] == "alice"
    assert learned[0]["time_to_solve_seconds"] == 1800  # opened half an hour before the merge
    (app,) = rows(fresh_db, "SELECT * FROM github_repos WHERE full_name = 'octo/app'")
    assert app["last_synced_sha"] == fake.repos[made["app"].id].pulls[-1].head_sha
    assert not any(r.path.endswith("/pulls/2/files") for r in fake.requests)  # never merged
    assert_no_plaintext(fresh_db, fake.issued)

    # the second sync asks conditionally and learns nothing
    fake.requests.clear()
    second = cc(env, "sync", "--tools", "ruff", "--json")
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert all(r.get("up_to_date") for r in report["repositories"])
    lists = fake.api_requests(r"/pulls$")
    assert lists and all(r.if_none_match and r.status == 304 for r in lists)
    assert {r.status for r in fake.api_requests(r"^/api/v3/repos/octo/[a-z]+$")} == {304}
    assert len(fake.api_requests()) == 4 and report["not_modified"] == 4
    assert len(rows(fresh_db, "SELECT * FROM past_solutions")) == 1

    # a new merged pull request: only it is read
    pr = fake.merge_pr(made["app"], "Drop unused import",
                       {"app/util.py": F401_BAD.replace("import os\n", "")})  # fmt: skip
    fake.requests.clear()
    third = cc(env, "sync", "--tools", "ruff")
    assert "octo/app: learned 1 fix(es) from 1 pull request(s)" in third.stdout, third.stdout
    assert [r.path for r in fake.api_requests("/files$")] == [
        f"/api/v3/repos/octo/app/pulls/{pr.number}/files"
    ]
    assert {r["code"] for r in rows(fresh_db, "SELECT code FROM past_solutions")} == {
        "E711", "F401"
    }  # fmt: skip

    # unselect, and the offline listing (no request at all)
    out = cc(env, "unselect", "octo/lib")
    assert out.returncode == 0 and "unselected: octo/lib" in out.stdout
    fake.requests.clear()
    offline = cc(env, "repos", "--offline")
    assert fake.requests == []
    assert "[x] octo/app  Python  ★12  #web #tools  synced 20" in offline.stdout
    assert "[ ] octo/lib  Python  ★3" in offline.stdout
    info = json.loads(cc(env, "status", "--json").stdout)
    assert (info["account"], info["selected"], info["repositories"]) == ("octo", 1, 3)
    assert info["scopes"] == ["repo", "read:user"] and info["key_matches"] is True

    # the fix from the pull request replays on a local file of another repository
    local = git_init(tmp_path / "local")
    (local / "ruff.toml").write_text(RUFF_TOML)
    text = (
        "def find(items, key):\n    found = items.get(key)\n    if found == None:\n"
        "        raise KeyError(key)\n    return found\n"
    )
    (local / "accounts.py").write_text(text)
    fixed = cc(env, "check", "--tools", "ruff", "--fix", "accounts.py", cwd=local)
    assert "[fixed]" in fixed.stdout, fixed.stdout + fixed.stderr
    assert f"from GitHub octo/app, commit {made['fix'].head_sha[:8]}" in fixed.stdout
    stats = json.loads(cc(env, "stats", "--json", cwd=local).stdout)
    assert stats["solutionsFromHistory"] == 2  # learned from pull requests
    assert (local / "accounts.py").read_text() == text.replace("found == None", "found is None")


def test_bad_answers_name_the_repository_and_the_next_sync_continues(
    cli_env, fresh_db, fake, tmp_path
) -> None:
    made = setup_repos(fake)
    moved = fake.add_repo("octo/old-name", {"ruff.toml": RUFF_TOML, "m.py": F401_BAD})
    fake.merge_pr(moved, "fix", {"m.py": F401_BAD.replace("import os\n", "")})
    gone = fake.add_repo("octo/gone", {"g.py": F401_BAD})
    env = gh_env(cli_env, fresh_db, fake, tmp_path / "data")
    login(env, fake)
    assert cc(env, "repos").returncode == 0
    assert cc(env, "select", "octo/app", "octo/lib", "octo/old-name", "octo/gone").returncode == 0
    fake.rename(moved, "octo/new-name")
    fake.deleted.add(gone.id)
    fake.fail(r"/repos/octo/lib/pulls$", {"status": 403, "body": {"message": "Resource not accessible by integration"}})  # fmt: skip
    fake.fail(r"/pulls/1/files$", {"kind": "truncate"}, times=1)
    done = cc(env, "sync", "--tools", "ruff")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert any(
        line.startswith("codecortex: error: octo/app:") and "cut off" in line for line in errors
    ), done.stderr
    assert any("octo/lib: access forbidden (HTTP 403: Resource not accessible" in e for e in errors)
    assert any("octo/gone: not found (deleted, renamed away, or no access)" in e for e in errors)
    assert "octo/old-name (renamed to octo/new-name): learned 1 fix(es)" in done.stdout
    assert "Traceback" not in done.stderr
    assert [r["full_name"] for r in rows(fresh_db, "SELECT full_name FROM github_repos"
                                         " WHERE github_id = %s", moved.id)] == ["octo/new-name"]  # fmt: skip
    # nothing of octo/app was written: no solution, no sync position
    (app,) = rows(fresh_db, "SELECT * FROM github_repos WHERE full_name = 'octo/app'")
    assert app["last_synced_sha"] is None
    assert [r["commit_sha"] for r in rows(fresh_db, "SELECT commit_sha FROM past_solutions")] == [
        moved.pulls[0].head_sha
    ]

    listed = cc(env, "repos")
    assert "no longer listed: octo/gone" in listed.stderr
    assert "[x] octo/gone  Python  ★0  (no longer listed)" in listed.stdout
    assert "[x] octo/new-name" in listed.stdout  # followed by GitHub's id, selection kept

    # not JSON, then the network down: one line each
    fake.clear_faults()
    fake.fail(r"/repos/octo/app/pulls$", {"kind": "text"})
    fake.fail(r"/repos/octo/lib$", {"kind": "drop"})
    done = cc(env, "sync", "--tools", "ruff", "octo/app", "octo/lib")
    assert "octo/app:" in done.stderr and "the answer is not JSON" in done.stderr, done.stderr
    assert "codecortex: error: octo/lib:" in done.stderr and "network error" in done.stderr
    assert "Traceback" not in done.stderr

    fake.clear_faults()
    done = cc(env, "sync", "--tools", "ruff")
    assert "octo/app: learned 1 fix(es) from 2 pull request(s)" in done.stdout, done.stdout
    assert len(rows(fresh_db, "SELECT * FROM past_solutions")) == 2

    # a revoked token: one line, nothing else happens
    fake.revoke_all()
    done = cc(env, "sync", "--tools", "ruff")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "codecortex: error: GitHub sync failed: GitHub rejected the token (revoked or expired):"
        " run `codecortex github login`"
    )
    assert "Traceback" not in done.stderr
    assert made  # the repositories stay


def test_rate_limits_are_waited_for_and_said(cli_env, fresh_db, fake, tmp_path) -> None:
    made = setup_repos(fake)
    env = gh_env(cli_env, fresh_db, fake, tmp_path / "data")
    login(env, fake)
    assert cc(env, "repos").returncode == 0
    assert cc(env, "select", "octo/app").returncode == 0
    fake.fail(r"/compare/", {"status": 429, "headers": {"Retry-After": "1"}}, times=1)
    fake.fail(
        r"/git/trees/",
        {"status": 403, "body": {"message": "You have exceeded a secondary rate limit."},
         "headers": {"Retry-After": "1"}},
        times=1,
    )  # fmt: skip
    fake.rate_remaining = 3  # the primary limit runs out during the sync
    fake.rate_reset_in = 2.0
    started = time.monotonic()
    done = cc(env, "sync", "--tools", "ruff")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "octo/app: learned 1 fix(es)" in done.stdout
    assert "github sync: GitHub asked to retry later: waiting 1 s" in done.stderr
    assert "github sync: GitHub rate limit reached: waiting" in done.stderr
    assert time.monotonic() - started >= 3
    statuses = [r.status for r in fake.api_requests()]
    assert 429 in statuses and 403 in statuses
    assert made


def test_an_expiring_token_is_refreshed(cli_env, fresh_db, fake, tmp_path) -> None:
    setup_repos(fake)
    fake.expires_in = 120  # within the five-minute margin: refreshed before use
    env = gh_env(cli_env, fresh_db, fake, tmp_path / "data")
    login(env, fake)
    (before,) = rows(fresh_db, "SELECT access_token_enc, token_expires_at FROM github_accounts")
    out = subprocess.run(  # with debug logging: still no token in the output
        [codecortex_exe(), "-v", "github", "repos"], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "GitHub token refreshed for octo" in out.stderr
    assert not any(t in out.stdout + out.stderr for t in fake.issued)
    assert fake.refreshes == 1
    (after,) = rows(fresh_db, "SELECT access_token_enc, token_expires_at FROM github_accounts")
    assert after["access_token_enc"] != before["access_token_enc"]
    assert_no_plaintext(fresh_db, fake.issued)
    assert len(fake.issued) == 4


def test_a_key_file_readable_by_others_is_refused(cli_env, fresh_db, fake, tmp_path) -> None:
    setup_repos(fake)
    env = gh_env(cli_env, fresh_db, fake, tmp_path / "data")
    login(env, fake)
    key = tmp_path / "data" / "github-token.key"
    os.chmod(key, 0o644)
    out = cc(env, "repos")
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f"codecortex: error: key file {key} can be read by other users: run `chmod 600 {key}`"
    )


async def test_the_editor_lists_repositories_and_syncs_with_progress(
    cli_env, fresh_db, fake, tmp_path, editor
) -> None:
    from lsphelp import command, eventually, start_client

    made = setup_repos(fake)
    env = gh_env(cli_env, fresh_db, fake, tmp_path / "data")
    login(env, fake)
    assert cc(env, "repos").returncode == 0
    assert cc(env, "select", "octo/app").returncode == 0
    local = git_init(tmp_path / "work")
    client = await start_client(env, local, editor)
    try:

        async def listed():
            result = await command(client, "codecortex.repositories")
            return result if result.get("repositories") else None  # the database may still start

        repos = (await eventually(listed))["repositories"]
        assert [(r["kind"], r["fullName"], r["selected"]) for r in repos] == [
            ("local", "work", True),
            ("github", "octo/app", True),
            ("github", "octo/docs", False),
            ("github", "octo/lib", False),
        ]
        app = repos[1]
        assert (app["language"], app["stars"], app["topics"]) == ("Python", 12, ["web", "tools"])
        assert repos[0]["rootPath"] == str(local.resolve())

        queued = await command(client, "codecortex.githubSync", {"tools": ["ruff"]})
        assert queued["queued"] is True, queued

        async def finished() -> list[Any] | None:
            for reports in client.progress_reports.values():
                kinds = [type(r).__name__ for r in reports]
                if kinds[:1] == ["WorkDoneProgressBegin"] and kinds[-1] == "WorkDoneProgressEnd":
                    if "GitHub" in reports[0].title:
                        return reports
            return None

        reports = await eventually(finished, timeout=90)
        assert reports[0].title == "CodeCortex: learning from GitHub pull requests"
        assert any(
            type(r).__name__ == "WorkDoneProgressReport"
            and "octo/app: 0/2 PRs" in (r.message or "")
            for r in reports
        )
        assert reports[-1].message == "1 fixes learned from 2 pull requests"
        repos = (await command(client, "codecortex.repositories"))["repositories"]
        assert repos[1]["lastSyncedSha"] == made["app"].pulls[-1].head_sha
    finally:
        await client.shutdown_session()


async def test_the_client_waits_for_a_secondary_limit_and_gives_up_on_long_waits(fake) -> None:
    from codecortex.github.api import GitHubClient, GitHubError

    fake.add_repo("octo/app", {"a.py": "x = 1\n"})
    fake._issue("octo")
    token = fake.issued[0]
    said: list[str] = []

    async def tok(_force: bool) -> str:
        return token

    async def on_wait(message: str) -> None:
        said.append(message)

    client = GitHubClient(fake.api, tok, on_wait=on_wait, secondary_wait=0.2, max_wait=30)
    fake.fail(r"/repos/octo/app$", {"status": 403, "body": {
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes."}},
        times=2)  # fmt: skip
    data = await client.get_json("/repos/octo/app", "octo/app")
    assert data["full_name"] == "octo/app"
    assert said == [
        "GitHub secondary rate limit: waiting 0.2 s",  # then doubled
        "GitHub secondary rate limit: waiting 0.4 s",
    ]
    fake.fail(r"/repos/octo/app$", {"status": 429, "headers": {"Retry-After": "7200"}}, times=1)
    with pytest.raises(GitHubError, match=r"^GitHub asked to retry later until \d\d:\d\d UTC"):
        await client.get_json("/repos/octo/app", "octo/app")


def test_github_enterprise_server_urls() -> None:
    from codecortex.config import load_settings
    from codecortex.github.account import endpoints

    dotcom = endpoints(load_settings(env={}))
    assert (dotcom.web_url, dotcom.api_url) == ("https://github.com", "https://api.github.com")
    ghes = endpoints(load_settings(env={"CODECORTEX_GITHUB_URL": "https://ghe.example.com/"}))
    assert (ghes.web_url, ghes.api_url) == (
        "https://ghe.example.com",
        "https://ghe.example.com/api/v3",
    )
    custom = endpoints(
        load_settings({"github": {"url": "https://ghe.example.com", "apiUrl": "https://api.ghe"}})
    )
    assert custom.api_url == "https://api.ghe"


def test_refresh_goes_to_the_host_the_account_signed_in_to() -> None:
    from codecortex.github.account import web_url_for

    assert web_url_for("https://api.github.com") == "https://github.com"
    assert web_url_for("https://ghe.example.com/api/v3/") == "https://ghe.example.com"
