"""`triage schemas ...`"""

from __future__ import annotations

from pathlib import Path

import click


@click.group("schemas")
def schemas_group() -> None:
    """Event schemas for integrators."""


@schemas_group.command("export")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
def export_cmd(out_dir: Path) -> None:
    """Write the JSON Schema of every topic's event into OUT_DIR."""
    from schemas.export import export_json_schemas

    for path in export_json_schemas(out_dir):
        click.echo(str(path))
