"""How fast the hash embedder turns problem texts into vectors (texts per second).

Prints one JSON object on stdout. Needs no database. Compare runs made on an idle machine: the
figure depends on everything else running (the load average is recorded with it).

    .venv/bin/python bench/embedder.py > embedder.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from codecortex.knowledge.embeddings import HashEmbedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    emb = HashEmbedder()
    texts = [
        f"F821 undefined name 'var{i}' in function handleRequest{i % 13} at src/module_{i}.py"
        for i in range(args.texts)
    ]
    rates = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        vectors = emb.embed_array(texts)
        rates.append(len(texts) / (time.perf_counter() - start))
    print(
        json.dumps(
            {
                "benchmark": "hash_embedder",
                "embedder": emb.name,
                "dimension": int(vectors.shape[1]),
                "texts_per_round": args.texts,
                "rounds": args.rounds,
                "texts_per_second": {
                    "median": round(statistics.median(rates)),
                    "min": round(min(rates)),
                    "max": round(max(rates)),
                },
                "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
