"""Secret redaction: what must be redacted, what must be left alone."""

from __future__ import annotations

import pytest

from codecortex.llm.redaction import redact, redact_messages, redact_value

GH = "ghp_" + "A1b2C3d4E5" * 4
OPENAI = "sk-proj-" + "T3BlbkFJ" * 5
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----"
)

POSITIVE = [
    # (text, secret that must disappear, placeholder kind)
    (f'client = OpenAI(api_key="{OPENAI}")', OPENAI, "openai_key"),
    ("OPENAI_API_KEY=sk-" + "a1B2" * 12, "sk-" + "a1B2" * 12, "openai_key"),
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
    (
        'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "secret",
    ),
    (f"git clone https://{GH}@github.com/org/repo", GH, "github_token"),
    ("gho_" + "x9Y8z7W6v5" * 4, "gho_" + "x9Y8z7W6v5" * 4, "github_token"),
    (
        "GITHUB_TOKEN: github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCD",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCD",
        "github_token",
    ),
    ("slack = 'xoxb-123456789012-1234567890123-AbCdEfGhIjKl'", "xoxb-123456789012", "slack_token"),
    (
        "maps_key: AIzaSyA-1234567890abcdefghijklmnopqrstu",
        "AIzaSyA-1234567890abcdefghijklmnopqrstu",
        "google_api_key",
    ),
    (
        'stripe.api_key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"',
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "stripe_key",
    ),
    (
        'headers = {"Authorization": "Bearer abcDEF0123456789xyzXYZ"}',
        "abcDEF0123456789xyzXYZ",
        "bearer_token",
    ),
    ("curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA=='", "dXNlcjpwYXNzd29yZA==", "basic_auth"),
    (f"token = {JWT}", JWT, "jwt"),
    (f"const session = '{JWT}';", JWT, "jwt"),
    ('password = "hunter2"', "hunter2", "password"),
    ("db_password = 'correct horse battery staple'", "correct horse", "password"),
    ('password: str = "pw-1234-x"', "pw-1234-x", "password"),
    ('connect(host="db", password="s3cr3tP@ss")', "s3cr3tP@ss", "password"),
    ('const apiKey = "AbC123xYz987";', "AbC123xYz987", "api_key"),
    ('{"client_secret": "9f8e7d6c5b4a", "name": "app"}', "9f8e7d6c5b4a", "secret"),
    ("DB_PASSWORD=hunter2", "hunter2", "password"),
    ("export AUTH_TOKEN=abc123XYZ789", "abc123XYZ789", "token"),
    ("database:\n  user: app\n  password: Pa55w0rd!\n", "Pa55w0rd!", "password"),
    ("  - secret: topsecretvalue42", "topsecretvalue42", "secret"),
    ('api_key = "notARealKeyButStillAString"', "notARealKeyButStillAString", "api_key"),
    ('secret := "gosecret"', "gosecret", "secret"),
    ('if password == "letmein":', "letmein", "password"),
    (
        "DATABASE_URL=postgres://alice:pa55word@db.example.com:5432/app",
        "pa55word",
        "password",
    ),
    ('redis_url = "redis://:redispass@cache:6379/0"', "redispass", "password"),
    (
        f"key = '''\n{PEM}\n'''",
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
        "private_key",
    ),
    (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n(truncated",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
        "private_key",
    ),
    (
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "XXXXXXXXXXXXXXXXXXXXXXXX",
        "slack_webhook",
    ),
]


@pytest.mark.parametrize(("text", "secret", "kind"), POSITIVE)
def test_secret_is_redacted(text: str, secret: str, kind: str) -> None:
    out, count = redact(text)
    assert secret not in out
    assert f"[REDACTED:{kind}]" in out
    assert count >= 1


NEGATIVE = [
    "password = get_password()",
    "token_count = 5",
    "max_tokens = 1024",
    'max_tokens = "1024"',
    "password = user_input",
    "password: str",
    "password: Password",
    "def check(password: str) -> bool:",
    "    token=token,",
    "self.secret = secret",
    'password = os.environ["DB_PASSWORD"]',
    "password = settings.db.password",
    'token_type = "bearer"',
    'password_field = "password"',
    'API_KEY_NAME = "X-Api-Key"',
    'secret = ""',
    "PASSWORD=${DB_PASSWORD}",
    'password: "{{ vault_password }}"',
    "tokens = tokenize(text)",
    "interface User { password: string; }",
    "Basic configuration options are documented below.",
    "The bearer of this letter is welcome.",
    'url = "https://example.com/path?x=1"',
    "postgres://localhost:5432/db",
    "x = 'sk-short'",
    "for token in tokens:\n    print(token)",
    "if not password:\n    raise ValueError('password required')",
    "F821 undefined name 'secret_value'",
    "const [token, setToken] = useState<string | null>(null);",
    "let password_hash = hash(password);",
    "TS2304: Cannot find name 'apiKey'.",
    "import numpy as np\nx = np.zeros((3, 4))\n",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_normal_code_is_left_alone(text: str) -> None:
    assert redact(text) == (text, 0)


def test_connection_string_keeps_scheme_user_and_host() -> None:
    out, count = redact('DSN = "postgresql://app_user:Sup3r$ecret@db.internal:5432/prod?ssl=1"')
    assert count == 1
    assert out == 'DSN = "postgresql://app_user:[REDACTED:password]@db.internal:5432/prod?ssl=1"'


def test_pem_block_is_replaced_whole_and_text_after_kept() -> None:
    out, count = redact(f"before\n{PEM}\nafter")
    # one placeholder, the block's line breaks kept (stored snapshots keep their line numbers)
    assert out == "before\n[REDACTED:private_key]" + "\n" * PEM.count("\n") + "\nafter"
    assert count == 1


def test_counts_every_secret_and_is_idempotent() -> None:
    text = f'a = "{OPENAI}"\npassword = "hunter2"\nurl = "mysql://root:toor@localhost/db"\n{GH}'
    out, count = redact(text)
    assert count == 4
    again, count2 = redact(out)
    assert again == out
    assert count2 == 0


def test_multiline_source_keeps_non_secret_lines() -> None:
    src = (
        "import os\n"
        "\n"
        "def connect():\n"
        '    password = "hunter2"\n'
        "    user = get_user()\n"
        "    return db.connect(user=user, password=password)\n"
    )
    out, count = redact(src)
    assert count == 1
    assert out.splitlines()[3] == '    password = "[REDACTED:password]"'
    assert [line for i, line in enumerate(out.splitlines()) if i != 3] == [
        line for i, line in enumerate(src.splitlines()) if i != 3
    ]


def test_redact_messages_and_values() -> None:
    messages = [
        {"role": "system", "content": "You fix code."},
        {"role": "user", "content": f"token={GH}"},
        {"role": "user", "content": [{"type": "text", "text": 'password = "hunter2"'}]},
    ]
    out, count = redact_messages(messages)
    assert count == 2
    assert GH not in str(out)
    assert "hunter2" not in str(out)
    assert messages[1]["content"] == f"token={GH}"  # input not mutated
    value, n = redact_value({"a": [f"x {OPENAI}", 3, None]})
    assert n == 1
    assert value == {"a": ["x [REDACTED:openai_key]", 3, None]}


def test_empty_text() -> None:
    assert redact("") == ("", 0)
