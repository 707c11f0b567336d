"""Evaluation reports a person reads: the per-class grid and the confusion matrix, JSON + PNG,
and the failure clusters as an HTML table.

The PNGs are for the ML owner deciding whether to ship; the JSON is the same numbers for tools.
The clusters are text (a representative ticket each), so they are a table, not a picture.
matplotlib runs on its Agg backend (no display on a server) and is imported only here.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from models.artifact import dump_json
from models.clusters import FailureCluster
from models.evaluate import Evaluation

CLUSTERS_HTML = "failure_clusters.html"


def write_reports(folder: Path, evaluation: Evaluation) -> list[Path]:
    """``metrics.json``, ``per_class.png``, ``confusion.png`` and ``failure_clusters.html``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "metrics.json", folder / "per_class.png", folder / "confusion.png"]
    dump_json(written[0], evaluation.to_dict())

    labels = list(evaluation.per_class)
    grid = np.array(
        [
            [evaluation.per_class[label][m] for m in ("precision", "recall", "f1")]
            for label in labels
        ]
    )
    fig, ax = plt.subplots(figsize=(5.5, 0.4 * len(labels) + 1.6))
    image = ax.imshow(grid, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(3), ["precision", "recall", "F1"])
    ax.set_yticks(range(len(labels)), labels)
    for (row, col), value in np.ndenumerate(grid):
        ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=8)
    ax.set_title(f"per class (macro-F1 {evaluation.macro_f1:.3f})")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(written[1], dpi=110)
    plt.close(fig)

    names = evaluation.confusion["labels"]
    matrix = np.array(evaluation.confusion["matrix"], dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = 0.45 * len(names) + 2.5
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            ax.text(col, row, f"{int(count)}", ha="center", va="center", fontsize=7)
    ax.set_title("confusion (row-normalised colour, counts)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(written[2], dpi=110)
    plt.close(fig)
    written.append(folder / CLUSTERS_HTML)
    written[-1].write_text(clusters_html(evaluation.failure_clusters), encoding="utf-8")
    return written


def clusters_html(clusters: Sequence[FailureCluster]) -> str:
    """A standalone page; every ticket text and label is escaped (tickets are untrusted input)."""
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            c.id,
            c.size,
            "<br>".join(html.escape(f"{t} \u2192 {p}: {n}") for t, p, n in c.mix),
            html.escape(
                f"{c.representative} ({c.representative_true} \u2192 {c.representative_predicted})"
            ),
        )
        for c in clusters
    )
    body = (
        "<table><tr><th>cluster</th><th>size</th><th>true \u2192 predicted</th>"
        f"<th>representative ticket</th></tr>{rows}</table>"
        if clusters
        else "<p>No misclassified tickets.</p>"
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Failure clusters</title>'
        "<style>td,th{border:1px solid #ccc;padding:4px;vertical-align:top}"
        "table{border-collapse:collapse}</style></head>"
        f"<body><h1>Failure clusters</h1>{body}</body></html>\n"
    )
