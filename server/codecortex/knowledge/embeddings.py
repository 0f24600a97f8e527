"""Text embedders: a deterministic feature-hashing embedder (default, offline) and an
OpenAI-compatible one (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp server).

Every embedder has a stable ``name`` (stored in the ``model`` column next to each vector) and a
``dimension``. Vectors are L2-normalised lists of floats, so cosine similarity is a dot product.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np

from codecortex.config import read_api_key
from codecortex.llm.errors import LLMBadResponse, LLMError, LLMNotConfigured
from codecortex.llm.redaction import redact
from codecortex.llm.retry import RetryPolicy, call_with_retries

__all__ = [
    "Embedder",
    "EmbeddingError",
    "HashEmbedder",
    "OpenAIEmbedder",
    "cosine",
    "make_embedder",
    "tokenize",
]

EmbeddingError = LLMError  # embedding endpoint failures use the same typed errors as chat


@runtime_checkable
class Embedder(Protocol):
    """What the engine needs from an embedder."""

    name: str

    @property
    def dimension(self) -> int: ...

    async def embed(self, texts: list[str]) -> list[list[float]]: ...

    def embed_sync(self, texts: list[str]) -> list[list[float]]: ...

    async def ensure_dimension(self) -> int: ...


# ---------------------------------------------------------------------------------------------
# Hash embedder
# ---------------------------------------------------------------------------------------------

_WORD_RE = re.compile(r"[A-Za-z0-9_]+")
_SUBTOKEN_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

WORD_WEIGHT = 1.0  # a word / identifier sub-token
IDENT_WEIGHT = 0.5  # the whole compound identifier (user_name, getUserName)
BIGRAM_WEIGHT = 0.5  # two consecutive sub-tokens
TRIGRAM_WEIGHT = 0.2  # character 3-grams of each sub-token (typos, inflections)


def tokenize(text: str) -> list[str]:
    """Lower-cased sub-tokens: ``getUserName2 user_id`` -> get user name 2 user id."""
    out: list[str] = []
    for word in _WORD_RE.findall(text):
        for sub in _SUBTOKEN_RE.findall(word):
            out.append(sub.lower())
    return out


@lru_cache(maxsize=262_144)
def _slot(feature: str, dimension: int) -> int:
    """Signed bucket for a feature: ``index + 1`` or ``-(index + 1)`` (stable across runs)."""
    h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    index = (h >> 1) % dimension
    return index + 1 if h & 1 else -(index + 1)


def _features(text: str) -> Iterable[tuple[str, float]]:
    prev: str | None = None
    any_feature = False
    for word in _WORD_RE.findall(text):
        subs = [s.lower() for s in _SUBTOKEN_RE.findall(word)]
        if not subs:  # only underscores
            continue
        if len(subs) > 1:
            yield "i:" + word.lower().strip("_"), IDENT_WEIGHT
        for sub in subs:
            any_feature = True
            yield "w:" + sub, WORD_WEIGHT
            if prev is not None:
                yield "b:" + prev + " " + sub, BIGRAM_WEIGHT
            prev = sub
            if len(sub) > 2 and not sub.isdigit():
                padded = "^" + sub + "$"
                for i in range(len(padded) - 2):
                    yield "c:" + padded[i : i + 3], TRIGRAM_WEIGHT
    if not any_feature:
        stripped = text.strip()
        yield ("p:" + stripped[:64]) if stripped else "e:<empty>", WORD_WEIGHT


class HashEmbedder:
    """Feature-hashing embedder: words, identifier sub-tokens (camelCase / snake_case / digits),
    sub-token bigrams and character 3-grams, signed-hashed with BLAKE2b into ``dimension``
    buckets and L2-normalised. Deterministic across processes and machines; no model download.
    """

    def __init__(self, dimension: int = 384) -> None:
        if dimension < 8:
            raise ValueError("HashEmbedder dimension must be >= 8")
        self._dimension = int(dimension)
        self.name = f"hash-v1-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    async def ensure_dimension(self) -> int:
        return self._dimension

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embed into a ``(len(texts), dimension)`` float32 array of unit rows."""
        dim = self._dimension
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for row, text in enumerate(texts):
            for feature, weight in _features(text):
                slot = _slot(feature, dim)
                rows.append(row)
                if slot > 0:
                    cols.append(slot - 1)
                    vals.append(weight)
                else:
                    cols.append(-slot - 1)
                    vals.append(-weight)
        n = len(texts)
        if n == 0:
            return np.zeros((0, dim), dtype=np.float32)
        flat = np.asarray(rows, dtype=np.int64) * dim + np.asarray(cols, dtype=np.int64)
        out = np.bincount(flat, weights=np.asarray(vals, dtype=np.float64), minlength=n * dim)
        matrix = out.reshape(n, dim)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        # A text whose features cancel out exactly (vanishingly rare) gets a fixed unit vector
        # rather than a zero vector, which would make cosine distance undefined.
        zero = norms[:, 0] == 0
        if zero.any():
            matrix[zero, 0] = 1.0
            norms[zero] = 1.0
        unit: np.ndarray = (matrix / norms).astype(np.float32)
        return unit

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()  # type: ignore[no-any-return]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        texts = list(texts)
        if len(texts) > 256 or sum(map(len, texts)) > 20_000:  # keep the event loop responsive
            return await asyncio.to_thread(self.embed_sync, texts)
        return self.embed_sync(texts)

    def __repr__(self) -> str:
        return f"HashEmbedder(dimension={self._dimension})"


def cosine(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> float:
    va = np.asarray(a, dtype=np.float64)
    vb = np.asarray(b, dtype=np.float64)
    denom = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb) / denom if denom else 0.0


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible embedder
# ---------------------------------------------------------------------------------------------

KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder:
    """Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint.

    Inputs are redacted (:func:`codecortex.llm.redaction.redact`) before they leave the machine,
    sent in batches of ``batch_size``; 429 (honouring ``Retry-After``), 5xx and connection
    errors are retried with exponential backoff up to ``max_retries`` times. The dimension is
    taken from ``dimension`` (also sent as ``dimensions`` for ``text-embedding-3-*`` models),
    else from a table of known models, else learned from the first response
    (see :meth:`ensure_dimension`). Failures raise :mod:`codecortex.llm.errors` types.
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        base_url: str | None = None,
        api_key: str | None = None,
        dimension: int | None = None,
        batch_size: int = 64,
        timeout: float = 30,
        max_retries: int = 4,
        *,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        max_retry_after: float = 60.0,
    ) -> None:
        if not model:
            raise LLMNotConfigured("embedder 'openai' needs a model name")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = base_url or None
        self._api_key = api_key or None
        self._requested_dimension = dimension
        self._dimension: int | None = dimension or KNOWN_DIMENSIONS.get(model)
        self.batch_size = batch_size
        self.timeout = float(timeout)
        self.policy = RetryPolicy(
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            max_retry_after=max_retry_after,
        )
        self._bound: tuple[asyncio.AbstractEventLoop, Any] | None = None
        self._lock = threading.Lock()

    # -- dimension ------------------------------------------------------------------------------
    @property
    def dimension(self) -> int:
        if self._dimension is None:
            raise LLMNotConfigured(
                f"dimension of embedding model {self.model!r} is not known yet; "
                "call 'await embedder.ensure_dimension()' first or set it explicitly"
            )
        return self._dimension

    async def ensure_dimension(self) -> int:
        if self._dimension is None:
            await self.embed(["dimension probe"])
        assert self._dimension is not None
        return self._dimension

    # -- client -----------------------------------------------------------------------------------
    def _make_client(self) -> Any:
        import openai

        key = self._api_key
        if not key:
            if self.base_url is None:
                key = read_api_key("openai")
                if not key:
                    raise LLMNotConfigured(
                        "embedder 'openai' needs an API key (CODECORTEX_OPENAI_API_KEY or "
                        "OPENAI_API_KEY) or a local endpoint base URL"
                    )
            else:
                key = "not-needed"  # local endpoints (Ollama, vLLM) ignore it
        return openai.AsyncOpenAI(
            api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=0
        )

    def _client(self) -> Any:
        """The client for the running loop (AsyncOpenAI's pool is bound to one loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._bound is None or self._bound[0] is not loop:
                self._bound = (loop, self._make_client())
            return self._bound[1]

    async def aclose(self) -> None:
        with self._lock:
            bound, self._bound = self._bound, None
        if bound is not None and bound[0] is asyncio.get_running_loop():
            await bound[1].close()

    # -- embedding --------------------------------------------------------------------------------
    async def _embed_batch(self, client: Any, batch: list[str]) -> list[list[float]]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "input": batch,
            "encoding_format": "float",
        }
        if self._requested_dimension and self.model.startswith("text-embedding-3"):
            kwargs["dimensions"] = self._requested_dimension

        async def call() -> Any:
            return await client.embeddings.create(**kwargs)

        response = await call_with_retries(
            call, policy=self.policy, what="the embedding endpoint", attempt_timeout=self.timeout
        )
        data = sorted(response.data, key=lambda d: d.index)
        if len(data) != len(batch):
            raise LLMBadResponse(
                f"the embedding endpoint returned {len(data)} vectors for {len(batch)} inputs"
            )
        vectors: list[list[float]] = []
        for item in data:
            vec = np.asarray(item.embedding, dtype=np.float64)
            if vec.ndim != 1 or vec.size == 0:
                raise LLMBadResponse("the embedding endpoint returned an empty vector")
            if self._dimension is None:
                self._dimension = int(vec.size)
            elif vec.size != self._dimension:
                raise LLMBadResponse(
                    f"embedding model {self.model!r} returned {vec.size} dimensions, "
                    f"expected {self._dimension}"
                )
            norm = float(np.linalg.norm(vec))
            vectors.append((vec / norm if norm else vec).tolist())
        return vectors

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await self._embed_with(self._client(), texts)

    async def _embed_with(self, client: Any, texts: list[str]) -> list[list[float]]:
        texts = [redact(t)[0] if t else " " for t in texts]
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(await self._embed_batch(client, texts[start : start + self.batch_size]))
        return out

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        """Blocking variant for the CLI and worker threads (not from inside a running loop's
        thread: use ``await embed`` there)."""

        async def run() -> list[list[float]]:
            if not texts:
                return []
            client = self._make_client()  # a private client for this short-lived loop
            try:
                return await self._embed_with(client, list(texts))
            finally:
                await client.close()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(run())
        result: list[list[list[float]]] = []
        error: list[BaseException] = []

        def worker() -> None:
            try:
                result.append(asyncio.run(run()))
            except BaseException as exc:
                error.append(exc)

        thread = threading.Thread(target=worker, name="codecortex-embed", daemon=True)
        thread.start()
        thread.join()
        if error:
            raise error[0]
        return result[0]

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, base_url={self.base_url!r})"


def make_embedder(kind: str = "hash", **settings: Any) -> Embedder:
    """Build an embedder from settings.

    ``kind``: ``"hash"`` (``dimension``) or ``"openai"`` (``model``, ``base_url``/``baseUrl``,
    ``api_key``/``apiKey``, ``dimension``, ``batch_size``, ``timeout``, ``max_retries``).
    Unknown keys are ignored so a whole settings section can be passed.
    """
    kind = (kind or "hash").strip().lower()
    s = {k.replace("-", "_"): v for k, v in settings.items()}
    aliases = {"baseUrl": "base_url", "apiKey": "api_key", "batchSize": "batch_size"}
    for camel, snake in aliases.items():
        if camel in s and snake not in s:
            s[snake] = s.pop(camel)
    if kind in ("hash", "hash-v1", "default"):
        return HashEmbedder(dimension=int(s.get("dimension") or 384))
    if kind in ("openai", "azure"):
        model = s.get("model") or "text-embedding-3-small"
        if isinstance(model, str) and model.startswith("openai:"):
            model = model.split(":", 1)[1]
        kwargs: dict[str, Any] = {"model": model}
        for key in ("base_url", "api_key", "dimension", "batch_size", "timeout", "max_retries"):
            if s.get(key) not in (None, ""):
                kwargs[key] = s[key]
        return OpenAIEmbedder(**kwargs)
    raise ValueError(f"unknown embedder {kind!r} (expected 'hash' or 'openai')")
