"""Per-file insight rules on fixtures: each fires where it should, clean files give nothing."""

from __future__ import annotations

import pytest
from conftest import TESTS

from codecortex.analysis import AnalysisThresholds, analyze_source, run_file_rules
from codecortex.analysis.builder import prioritise
from codecortex.diagnostics import apply_edits

FIXTURES = TESTS / "fixtures" / "analysis"


def _insights(rel: str, text: str | None = None, thresholds: AnalysisThresholds | None = None):
    text = (FIXTURES / rel).read_text() if text is None else text
    return run_file_rules(analyze_source(rel, text, None), text, thresholds)


def _rules(insights) -> list[tuple[str, str | None]]:
    return sorted((i.rule, i.symbol) for i in insights)


@pytest.mark.parametrize(
    "rel",
    [
        "python/clean.py",
        "javascript/clean.js",
        "typescript/clean.ts",
        "go/clean.go",
        "rust/clean.rs",
        "java/Clean.java",
    ],
)
def test_clean_fixtures_have_no_insights(rel: str) -> None:
    assert _insights(rel) == []


def test_python_security_and_performance_rules() -> None:
    assert _rules(_insights("python/insecure.py")) == [
        ("performance.query_in_loop", "save_all"),
        ("performance.string_concat_in_loop", "render"),
        ("security.eval", "run_user_code"),
        ("security.hardcoded_secret", None),
        ("security.hardcoded_secret", None),
        ("security.pickle_load", "load_state"),
        ("security.sql_injection", "find_user"),
        ("security.subprocess_shell", "list_dir"),
        ("security.subprocess_shell", "list_tmp"),
        ("security.tls_verify_disabled", "fetch"),
        ("security.weak_password_hash", "hash_password"),
        ("security.yaml_load", "load_config"),
    ]


def test_refactor_and_documentation_rules_per_language() -> None:
    expected_refactor = {
        "refactor.complexity",
        "refactor.deep_nesting",
        "refactor.long_parameter_list",
    }
    cases = {
        "python/complex.py": ("tangled", {"undocumented", "Service.stop"}),
        "typescript/complex.ts": ("tangled", {"tangled", "Options2"}),
        "go/complex.go": ("Tangled", {"Undocumented"}),
        "rust/complex.rs": ("Store.tangled", {"Store.undocumented"}),
        "java/Complex.java": ("Complex.tangled", {"Complex.undocumented"}),
    }
    for rel, (func, undocumented) in cases.items():
        found = _insights(rel)
        refactor = {i.rule for i in found if i.type == "refactor" and i.symbol == func}
        assert refactor == expected_refactor, rel
        docs = {i.symbol for i in found if i.type == "documentation"}
        assert docs == undocumented, rel


def test_go_java_js_security_and_loops() -> None:
    assert _rules(i for i in _insights("go/complex.go") if i.type != "refactor") == [
        ("documentation.missing_doc", "Undocumented"),
        ("performance.query_in_loop", "SaveAll"),
        ("security.sql_injection", "FindUser"),
    ]
    java = [
        i for i in _insights("java/Complex.java") if i.type not in ("refactor", "documentation")
    ]
    assert _rules(java) == [
        ("performance.query_in_loop", "Complex.saveAll"),
        ("security.sql_injection", "Complex.findUser"),
    ]
    assert _rules(_insights("javascript/insecure.js")) == [
        ("performance.query_in_loop", "saveAll"),
        ("security.child_process_exec", "listDir"),
        ("security.eval", "runUserCode"),
        ("security.hardcoded_secret", None),
        ("security.sql_injection", "findUser"),
        ("security.xss_html_sink", "show"),
    ]


def test_thresholds_are_configurable() -> None:
    text = (FIXTURES / "python" / "clean.py").read_text()
    strict = AnalysisThresholds(max_function_lines=3, max_top_level_definitions=3)
    found = _insights("python/clean.py", text, strict)
    assert {(i.rule, i.symbol) for i in found} == {
        ("refactor.long_function", "load"),
        ("refactor.long_function", "find_user"),
        ("architecture.too_many_responsibilities", None),
    }
    lenient = AnalysisThresholds(max_complexity=50, max_nesting=10, max_params=10)
    found = _insights("python/complex.py", None, lenient)
    assert not any(i.type == "refactor" for i in found)


def test_secrets_are_not_leaked_and_test_files_rank_lower() -> None:
    found = [i for i in _insights("python/insecure.py") if i.rule == "security.hardcoded_secret"]
    assert {i.detail["secret_kind"] for i in found} == {"aws_access_key", "password_literal"}
    for i in found:
        blob = repr(i.to_json())
        assert "hunter2-Hunter2" not in blob and "AKIAZ7Q3MB2XK4PLW9RT" not in blob
        assert i.severity == "critical"
    text = 'PASSWORD = "Sup3r-s3cret-value"\nplaceholder_password = "changeme"\n'
    in_test = run_file_rules(analyze_source("tests/test_login.py", text, None), text)
    assert len(in_test) == 1 and in_test[0].severity == "warning"
    in_src = run_file_rules(analyze_source("app/login.py", text, None), text)
    assert in_test[0].priority.score < in_src[0].priority.score


def _fix_for(rule: str, rel: str = "python/insecure.py"):
    text = (FIXTURES / rel).read_text()
    insight = next(i for i in _insights(rel) if i.rule == rule and i.fix)
    return text, insight


@pytest.mark.parametrize(
    ("rule", "expected_line"),
    [
        ("security.yaml_load", "        return yaml.safe_load(fh)"),
        ("security.tls_verify_disabled", "    return requests.get(url, timeout=10)"),
        (
            "security.subprocess_shell",
            '    return subprocess.run(["ls", "-l", "/tmp"], shell=False, check=True)',
        ),
    ],
)
def test_mechanical_fixes_apply_and_clear_the_finding(rule: str, expected_line: str) -> None:
    text, insight = _fix_for(rule)
    assert insight.fix is not None
    fixed = apply_edits(text, insight.fix)
    assert expected_line in fixed.splitlines()
    remaining = _insights("python/insecure.py", fixed)
    assert insight.fingerprint not in {i.fingerprint for i in remaining}
    assert len(remaining) == len(_insights("python/insecure.py")) - 1


def test_built_shell_command_has_no_fix_and_is_critical() -> None:
    found = _insights("python/insecure.py")
    built = next(
        i for i in found if i.rule == "security.subprocess_shell" and i.symbol == "list_dir"
    )
    assert built.fix is None and built.severity == "critical"
    assert built.detail["built_with"] == "f-string"
    assert {"rule", "why", "how_to_fix"} <= built.detail.keys()


def test_fingerprints_survive_unrelated_edits() -> None:
    for rel in ("python/insecure.py", "python/complex.py", "go/complex.go", "java/Complex.java"):
        text = (FIXTURES / rel).read_text()
        before = _insights(rel, text)
        lines = text.splitlines(keepends=True)
        # unrelated lines added near the top (after the first line: Go/Java need their header)
        comment = "# note\n" if rel.endswith(".py") else "// note\n"
        shifted = lines[0] + comment * 5 + "".join(lines[1:])
        after = _insights(rel, shifted)
        assert [i.fingerprint for i in before] == [i.fingerprint for i in after], rel
        assert [i.range.start.line + 5 for i in before] == [i.range.start.line for i in after]
        assert len({i.fingerprint for i in before}) == len(before)


def test_fingerprint_changes_with_the_offending_code() -> None:
    text = (FIXTURES / "python" / "insecure.py").read_text()
    before = {i.rule: i.fingerprint for i in _insights("python/insecure.py", text)}
    edited = text.replace("pickle.loads(blob)", "pickle.loads(blob[4:])")
    after = {i.rule: i.fingerprint for i in _insights("python/insecure.py", edited)}
    assert before["security.pickle_load"] != after["security.pickle_load"]
    assert before["security.eval"] == after["security.eval"]
    other_file = {i.rule: i.fingerprint for i in _insights("python/other.py", text)}
    assert other_file["security.eval"] != before["security.eval"]


def test_identical_findings_get_distinct_fingerprints() -> None:
    text = "def f(x):\n    eval(x)\n    eval(x)\n"
    found = _insights("m.py", text)
    assert len(found) == 2 and found[0].fingerprint != found[1].fingerprint


def test_priorities() -> None:
    crit = prioritise("security_issue", "critical", 0.9, "minutes", has_fix=True)
    assert crit.category == "immediate" and crit.impact == "critical" and crit.score <= 100
    doc = prioritise("documentation", "info", 0.8, "minutes")
    assert doc.category in ("backlog", "nice_to_have") and doc.impact == "low"
    assert doc.score < crit.score and 0 <= doc.actionability <= 100
    found = _insights("python/insecure.py")
    by_rule = {i.rule: i for i in found}
    assert by_rule["security.yaml_load"].priority.category == "immediate"
    assert by_rule["performance.string_concat_in_loop"].priority.effort == "minutes"
    for i in found:
        js = i.to_json()
        assert js["priority"]["category"] in ("immediate", "this_sprint", "backlog", "nice_to_have")
        assert len(js["fingerprint"]) == 64
