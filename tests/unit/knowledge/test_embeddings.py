"""Embedders: the hash embedder's properties and the OpenAI embedder against the fake server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from codecortex.knowledge.embeddings import (
    Embedder,
    HashEmbedder,
    OpenAIEmbedder,
    cosine,
    make_embedder,
    tokenize,
)
from codecortex.llm import LLMBadResponse, LLMNotConfigured, LLMRateLimited, LLMUnavailable

try:
    from fakeopenai import FakeOpenAI, fake_openai_fixture
except ImportError:  # tests/ is a package or on another path
    from tests.fakeopenai import FakeOpenAI, fake_openai_fixture  # noqa: F401


# --------------------------------------------------------------------------------- hash embedder


def test_tokenize_splits_identifiers() -> None:
    assert tokenize("getUserName2 user_id HTTPServerError") == [
        "get",
        "user",
        "name",
        "2",
        "user",
        "id",
        "http",
        "server",
        "error",
    ]


def test_hash_embedder_name_dimension_and_protocol() -> None:
    emb = HashEmbedder()
    assert emb.name == "hash-v1-384"
    assert emb.dimension == 384
    assert isinstance(emb, Embedder)
    small = HashEmbedder(dimension=64)
    assert small.name == "hash-v1-64"
    assert len(small.embed_sync(["x"])[0]) == 64
    with pytest.raises(ValueError):
        HashEmbedder(dimension=2)


def test_hash_embedder_is_deterministic_across_processes() -> None:
    texts = ["F821 undefined name 'fooBar'", "TS2304: Cannot find name 'useState'."]
    here = HashEmbedder().embed_sync(texts)
    assert HashEmbedder().embed_sync(texts) == here
    code = (
        "import json, sys; from codecortex.knowledge.embeddings import HashEmbedder; "
        "print(json.dumps(HashEmbedder().embed_sync(json.loads(sys.argv[1]))))"
    )
    for seed in ("1", "12345"):  # Python's hash() would differ between these
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(texts)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert np.allclose(json.loads(out.stdout), here, atol=1e-7)


@pytest.mark.parametrize(
    "text", ["", "   ", "x", "!!!", "a" * 5000, "def f():\n    return 1\n", "ünïcödé 名前"]
)
def test_hash_vectors_are_unit_length(text: str) -> None:
    vec = np.asarray(HashEmbedder().embed_sync([text])[0])
    assert vec.shape == (384,)
    assert np.isfinite(vec).all()
    assert abs(np.linalg.norm(vec) - 1.0) < 1e-5


def test_different_texts_get_different_vectors() -> None:
    a, b = HashEmbedder().embed_sync(["undefined name foo", "line too long"])
    assert a != b


@pytest.mark.parametrize(
    ("anchor", "similar", "unrelated"),
    [
        (
            "F821 undefined name 'fooBar'",
            "F821 undefined name 'user_count'",
            "E501 line too long (120 > 100 characters)",
        ),
        (
            "error[E0425]: cannot find value `totalSize` in this scope",
            "error[E0425]: cannot find value `max_items` in this scope",
            "warning: unused import: `std::collections::HashMap`",
        ),
        (
            "Argument of type 'string' is not assignable to parameter of type 'number'.",
            "Argument of type 'UserRecord' is not assignable to parameter of type 'OrderId'.",
            "Cannot find module './components/Button' or its corresponding type declarations.",
        ),
        (
            'Incompatible return value type (got "int", expected "str")',
            'Incompatible return value type (got "list[Order]", expected "Optional[Order]")',
            'Module "os" has no attribute "getcwdu"',
        ),
        (
            "ModuleNotFoundError: No module named 'requests'",
            "ModuleNotFoundError: No module named 'numpy_financial'",
            "IndentationError: unexpected indent",
        ),
    ],
)
def test_similar_problems_are_closer_than_unrelated(
    anchor: str, similar: str, unrelated: str
) -> None:
    a, s, u = HashEmbedder().embed_sync([anchor, similar, unrelated])
    assert cosine(a, s) > cosine(a, u) + 0.2


def test_identifier_subtokens_match_across_naming_styles() -> None:
    emb = HashEmbedder()
    camel, snake, other = emb.embed_sync(
        ["undefined getUserName", "undefined get_user_name", "undefined parseConfigFile"]
    )
    assert cosine(camel, snake) > cosine(camel, other)


async def test_async_embed_matches_sync_and_large_batches() -> None:
    emb = HashEmbedder()
    texts = [f"problem number {i} in module_{i % 7}" for i in range(600)]
    assert await emb.embed(texts) == emb.embed_sync(texts)
    assert await emb.embed([]) == []
    assert await emb.ensure_dimension() == 384


def test_hash_embedder_embeds_a_large_batch() -> None:
    """(Its speed is a figure of bench/embedder.py, not a test.)"""
    texts = [
        f"F821 undefined name 'var{i}' in function handleRequest{i % 13} at src/module_{i}.py"
        for i in range(4000)
    ]
    vectors = HashEmbedder().embed_array(texts)
    assert vectors.shape == (4000, 384)
    assert len({v.tobytes() for v in vectors}) == 4000  # every text its own vector


def test_make_embedder() -> None:
    assert make_embedder("hash").name == "hash-v1-384"
    assert make_embedder("hash", dimension=128, model="ignored").dimension == 128
    e = make_embedder(
        "openai", model="text-embedding-3-small", baseUrl="http://127.0.0.1:9/v1", timeout=3
    )
    assert isinstance(e, OpenAIEmbedder)
    assert e.name == "openai:text-embedding-3-small"
    assert e.base_url == "http://127.0.0.1:9/v1"
    assert e.dimension == 1536  # known model
    with pytest.raises(ValueError, match="unknown embedder"):
        make_embedder("word2vec")


# ------------------------------------------------------------------------------- OpenAI embedder


def _embedder(fake: FakeOpenAI, **kw: object) -> OpenAIEmbedder:
    kw.setdefault("backoff_base", 0.01)
    return OpenAIEmbedder("fake-embed", base_url=fake.base_url, **kw)  # type: ignore[arg-type]


async def test_openai_embedder_batches_and_preserves_order(fake_openai: FakeOpenAI) -> None:
    emb = _embedder(fake_openai, batch_size=2)
    texts = ["undefined name foo", "line too long", "missing import", "type mismatch", "x"]
    vectors = await emb.embed(texts)
    await emb.aclose()
    calls = fake_openai.requests_to("embeddings")
    assert [c.body["input"] for c in calls] == [texts[0:2], texts[2:4], texts[4:5]]
    assert all(c.body["model"] == "fake-embed" for c in calls)
    # the fake serves hash-embedder vectors, so the result must equal them, in order
    assert np.allclose(vectors, HashEmbedder().embed_sync(texts), atol=1e-6)
    assert emb.dimension == 384  # learned from the first response
    assert emb.name == "openai:fake-embed"


async def test_openai_embedder_dimension_unknown_until_probe(fake_openai: FakeOpenAI) -> None:
    emb = _embedder(fake_openai)
    with pytest.raises(LLMNotConfigured):
        _ = emb.dimension
    assert await emb.ensure_dimension() == 384
    assert emb.dimension == 384
    await emb.aclose()


async def test_openai_embedder_sends_dimensions_for_v3_models(fake_openai: FakeOpenAI) -> None:
    emb = OpenAIEmbedder("text-embedding-3-small", base_url=fake_openai.base_url, dimension=256)
    vectors = await emb.embed(["hello world"])
    await emb.aclose()
    assert len(vectors[0]) == 256
    assert fake_openai.requests_to("embeddings")[0].body["dimensions"] == 256


async def test_openai_embedder_retries_429_honouring_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_status(429, retry_after=0.4, endpoint="embeddings")
    emb = _embedder(fake_openai)
    start = time.monotonic()
    vectors = await emb.embed(["a problem"])
    elapsed = time.monotonic() - start
    await emb.aclose()
    assert len(vectors) == 1
    assert len(fake_openai.requests_to("embeddings")) == 2
    assert elapsed >= 0.4


async def test_openai_embedder_gives_up_on_persistent_errors(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_status(500, endpoint="embeddings", times=3)
    emb = _embedder(fake_openai, max_retries=2)
    with pytest.raises(LLMUnavailable, match="HTTP 500"):
        await emb.embed(["a"])
    assert len(fake_openai.requests_to("embeddings")) == 3
    fake_openai.reply_status(429, retry_after=120, endpoint="embeddings")
    with pytest.raises(LLMRateLimited):  # will not wait two minutes
        await emb.embed(["a"])
    await emb.aclose()


async def test_openai_embedder_rejects_wrong_dimension(fake_openai: FakeOpenAI) -> None:
    emb = _embedder(fake_openai, dimension=16)
    with pytest.raises(LLMBadResponse, match="384 dimensions, expected 16"):
        await emb.embed(["a"])
    await emb.aclose()


async def test_openai_embedder_redacts_inputs(fake_openai: FakeOpenAI) -> None:
    secret = "sk-proj-" + "Zx81" * 10
    emb = _embedder(fake_openai)
    await emb.embed([f'client = OpenAI(api_key="{secret}")', 'password = "hunter2hunter2"'])
    await emb.aclose()
    received = fake_openai.received_text()
    assert secret not in received
    assert "hunter2hunter2" not in received
    assert "[REDACTED:openai_key]" in received


def test_openai_embedder_sync_outside_and_inside_loop(fake_openai: FakeOpenAI) -> None:
    emb = _embedder(fake_openai)
    expected = HashEmbedder().embed_sync(["sync text"])
    assert np.allclose(emb.embed_sync(["sync text"]), expected, atol=1e-6)

    async def inside() -> list[list[float]]:
        return emb.embed_sync(["sync text"])  # from a running loop: runs in a worker thread

    assert np.allclose(asyncio.run(inside()), expected, atol=1e-6)


async def test_openai_embedder_endpoint_down() -> None:
    emb = OpenAIEmbedder(
        "fake-embed", base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_base=0.01
    )
    with pytest.raises(LLMUnavailable, match="cannot reach"):
        await emb.embed(["a"])
    await emb.aclose()


def test_openai_embedder_survives_a_new_event_loop(fake_openai: FakeOpenAI) -> None:
    emb = _embedder(fake_openai)
    first = asyncio.run(emb.embed(["same text"]))
    second = asyncio.run(emb.embed(["same text"]))  # the old loop is closed by now
    assert first == second
    assert len(fake_openai.requests_to("embeddings")) == 2


def test_importing_embeddings_does_not_import_openai() -> None:
    code = (
        "import sys, codecortex.knowledge.embeddings, codecortex.llm, codecortex.llm.redaction; "
        "print('openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
