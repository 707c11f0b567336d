"""JSON Schema export for integrators: one file per event model."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.events import TOPIC_EVENTS


def export_json_schemas(out_dir: Path) -> list[Path]:
    """Write ``<Model>.schema.json`` for every event and an index mapping topics to files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index: dict[str, str] = {}
    for topic, model in TOPIC_EVENTS.items():
        path = out_dir / f"{model.__name__}.schema.json"
        if path not in written:
            schema = model.model_json_schema()
            schema["$id"] = path.name
            path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
            written.append(path)
        index[topic] = path.name
    index_path = out_dir / "topics.json"
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    written.append(index_path)
    return written
