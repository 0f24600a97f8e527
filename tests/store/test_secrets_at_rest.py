"""No secret at rest: secrets planted in code, docs, notes and messages (made up at run time, so
that no secret-shaped text is in the repository) go through the real server and CLI; then
every text column of every table and the export are searched for them. A fix learned next to
them must still replay."""

from __future__ import annotations

import base64
import json
import random
import string
import subprocess
import time
from pathlib import Path

import psycopg
from conftest import codecortex_exe
from lsphelp import ruff_diagnostics, server_env
from wireclient import WireClient, _until, edits_of

from codecortex.llm.redaction import redact


def _planted(seed: int = 15) -> dict[str, str]:
    """name -> the secret (the part that must not be stored), built from random characters."""
    rnd = random.Random(seed)

    def chars(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(rnd.choice(alphabet) for _ in range(n))

    def b64url(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    pem_body = "\n".join(chars(64, string.ascii_letters + string.digits + "+/") for _ in range(4))
    return {
        "aws_key_id": "AK" + "IA" + chars(16, string.ascii_uppercase + string.digits),
        "aws_secret": chars(40, string.ascii_letters + string.digits + "/+"),
        "github": "gh" + "p_" + chars(36),
        "slack": "xo" + "xb-" + chars(12, string.digits) + "-" + chars(24),
        "pem": pem_body.splitlines()[1],
        "pem_block": f"-----BEGIN RSA {'PRIVATE'} KEY-----\n{pem_body}\n-----END RSA "
        f"{'PRIVATE'} KEY-----",
        "dsn_password": "Pw" + chars(14),
        "jwt": b64url({"alg": "HS256"}) + "." + b64url({"sub": chars(8)}) + "." + chars(32),
        "api_key": chars(32),
        "password": "Q" + chars(15),
        "stripe": "sk" + "_live_" + chars(24),
    }


def _source(s: dict[str, str]) -> str:
    return (
        "import os\n"
        f'AWS_ACCESS_KEY_ID = "{s["aws_key_id"]}"\n'
        f'aws_secret_access_key = "{s["aws_secret"]}"\n'
        f'GITHUB_TOKEN = "{s["github"]}"\n'
        f'SLACK = "{s["slack"]}"\n'
        f'PRIVATE = """{s["pem_block"]}"""\n'
        f'DSN = "postgresql://app:{s["dsn_password"]}@db.example.com:5432/prod"\n'
        f'SESSION = "{s["jwt"]}"\n'
        f'api_key = "{s["api_key"]}"\n'
        f'password = "{s["password"]}"\n'
        f'STRIPE = "{s["stripe"]}"\n'
        "\n\n"
        "def main() -> None:\n"
        "    print(AWS_ACCESS_KEY_ID, aws_secret_access_key, GITHUB_TOKEN, SLACK, PRIVATE, DSN)\n"
        "    print(SESSION, api_key, password, STRIPE)\n"
    )


def _leaks(db_url: str, secrets: dict[str, str]) -> dict[str, list[str]]:
    """secret name -> the table.column values that contain it, over every text-like column."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(db_url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type IN ('text', 'character varying',"
            " 'character', 'json', 'jsonb', 'ARRAY')"
        ).fetchall()
        assert len(columns) > 50  # every table of the schema, not a chosen few
        for table, column in columns:
            for name, secret in secrets.items():
                if name == "pem_block":
                    continue
                hit = conn.execute(
                    f'SELECT 1 FROM "{table}" WHERE "{column}"::text LIKE %s LIMIT 1',
                    (f"%{secret}%",),
                ).fetchone()
                if hit:
                    found.setdefault(name, []).append(f"{table}.{column}")
    return found


def test_the_redactor_knows_every_planted_secret() -> None:
    secrets = _planted()
    clean, count = redact(_source(secrets))
    assert count >= 10
    assert [n for n, s in secrets.items() if n != "pem_block" and s in clean] == []
    assert clean.count("\n") == _source(secrets).count("\n")  # line numbers kept


def test_no_secret_is_stored_or_exported(fresh_db: str, tmp_path: Path, cli_env, editor) -> None:
    secrets = _planted()
    project = tmp_path / "proj"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / "README.md").write_text(
        "# Setup\n\nConnect with "
        f"`postgresql://admin:{secrets['dsn_password']}@db.example.com/app` and post to Slack "
        f"with `{secrets['slack']}`.\n\nSet `GITHUB_TOKEN={secrets['github']}` first.\n"
    )
    source = _source(secrets)
    (project / "settings.py").write_text(source)

    client = WireClient(server_env(fresh_db))
    try:
        client.start(project, editor=editor)
        # Learn a fix right next to the secrets: removing the unused import.
        path = project / "app.py"
        uri = client.open(path, source)
        client.forward(uri, 1, ruff_diagnostics(path, source))
        _until(client, lambda st: st["problems"] >= 1)
        fixed = source.replace("import os\n", "", 1)
        client.change(uri, fixed, 2)
        client.forward(uri, 2, [])
        _until(client, lambda st: st["solutions"] >= 1)
        # A message with a secret (the code action's context), a note, a search.
        rng = {"start": {"line": 7, "character": 0}, "end": {"line": 7, "character": 7}}
        reply = client.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": rng, "context": {"diagnostics": [
                {"range": rng, "message": f"token {secrets['jwt']} expired", "source": "mypy"}]}})  # fmt: skip
        assert "result" in reply
        note = client.command(
            "codecortex.addNote",
            {"text": f'deploy with password = "{secrets["password"]}" and {secrets["github"]}'},
        )
        assert "id" in note, note
        client.command("codecortex.search", f"why does {secrets['stripe']} fail")
        # The same problem elsewhere: the learned fix still replays on the redacted memory.
        other = project / "other.py"
        other_text = f'import json\nTOKEN = "{secrets["github"]}"\nprint(TOKEN)\n'
        other_uri = client.open(other, other_text)
        diags = ruff_diagnostics(other, other_text)
        client.forward(other_uri, 1, diags)
        for _ in range(100):
            actions = client.request("textDocument/codeAction", {
                "textDocument": {"uri": other_uri}, "range": diags[0]["range"],
                "context": {"diagnostics": []}})["result"] or []  # fmt: skip
            fixes = [a for a in actions if "apply past fix" in a["title"]]
            if fixes:
                break
            time.sleep(0.2)
        assert fixes, "the fix learned next to the secrets was not offered"
        (edit,) = edits_of(fixes[0]["edit"], other_uri, editor)
        assert edit["range"]["start"]["line"] == 0 and edit["newText"] == ""
        _until(client, lambda st: st["problems"] >= 3)
        assert client.stop() == 0
    finally:
        client.kill()

    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    check = subprocess.run(
        [codecortex_exe(), "check", "--tools", "ruff", "."], cwd=project, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert check.returncode in (0, 1), check.stderr
    analyzed = subprocess.run(
        [codecortex_exe(), "analyze", "--phase", "medium", "."], cwd=project, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert analyzed.returncode == 0, analyzed.stderr
    assert "Hard-coded" in analyzed.stdout  # the secrets insight found them (without storing them)
    exported = subprocess.run(
        [codecortex_exe(), "export", "--private"], cwd=project, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert '"type": "solution"' in exported.stdout and "[REDACTED:" in exported.stdout

    with psycopg.connect(fresh_db) as conn:  # every path was taken (the search is not vacuous)
        for table, where in [("items", "kind = 'doc'"), ("items", "kind = 'note'"),
                             ("file_snapshots", "TRUE"), ("past_solutions", "TRUE"),
                             ("detected_problems", "code_context <> ''")]:  # fmt: skip
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
            assert n is not None and n[0] > 0, (table, where)
    leaks = _leaks(fresh_db, secrets)
    in_export = [n for n, s in secrets.items() if n != "pem_block" and s in exported.stdout]
    print(json.dumps({"planted": len(secrets) - 1, "stored": leaks, "exported": in_export}))
    assert leaks == {}
    assert in_export == []
