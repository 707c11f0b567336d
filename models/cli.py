"""`triage train`, `triage evaluate`, `triage predict`.

Settings (:class:`models.settings.ModelSettings`) are read here, once; everything below takes
typed arguments. torch, transformers and matplotlib are imported inside the commands so that
`triage --help` stays instant. User errors are :class:`models.exceptions.ModelError` subclasses,
which ``ops.cli`` prints as ``error: ...`` with exit status 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from models.cli_options import (
    HeadOptions,
    device_option,
    head_options,
    health_config_option,
    label_col_option,
    options_from,
    seed_option,
    text_col_option,
)
from models.data import HeadColumn
from models.exceptions import ModelError
from models.train_config import TrainConfig

if TYPE_CHECKING:
    from models.bands import Thresholds
    from models.base import Scores
    from models.data import LabelledData
    from models.escalation import Escalation
    from models.health import HealthReport
    from models.hierarchy import Hierarchy


def _settings() -> Any:
    from models.settings import ModelSettings
    from models.transformer import configure_threads

    settings = ModelSettings()
    configure_threads(settings.torch_threads)
    return settings


@click.command("train")
@click.argument("data", type=click.Path(path_type=Path))
@text_col_option
@label_col_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="where the result goes; a new model directory",
)
@click.option("--val", type=click.Path(path_type=Path), help="explicit validation file")
@click.option("--test", type=click.Path(path_type=Path), help="explicit test file")
@click.option(
    "--sub-label-col",
    help="the child label column under --label-col (team -> intent); the model learns the "
    "child, serves both, and a child outside its parent is never predicted",
)
@click.option(
    "--hierarchy",
    type=click.Path(path_type=Path),
    help="the same from a mapping file {parent: [child, ...]} (teams.json); --label-col then "
    "names the child column",
)
@head_options
@options_from(
    TrainConfig,
    "epochs",
    "max_length",
    "truncation",
    "batch_size",
    "lr",
    "lora_r",
    "imbalance",
    "augment_noise",
    "fill",
    "fill_share",
    "hard_negatives",
    "pseudo_threshold",
    "pseudo_rounds",
    "pseudo_labeller",
)
@click.option(
    "--unlabelled",
    type=click.Path(dir_okay=False, path_type=Path),
    help="an export without labels (its --text-col): confident, non-novel rows join training as "
    "pseudo-labels in rounds, each kept only if it raises validation macro-F1",
)
@seed_option("splits, initialisation and batch order")
@click.option("--eval-pack", type=click.Path(path_type=Path), help="gate floors (JSON)")
@health_config_option("synonyms, allowed_labels, min_class_count, ...")
@click.option("--force", is_flag=True, help="train even on a severely imbalanced export")
@device_option
def train_command(
    data: Path,
    text_col: str,
    label_col: str,
    out: Path,
    val: Path | None,
    test: Path | None,
    sub_label_col: str | None,
    hierarchy: Path | None,
    unlabelled: Path | None,
    eval_pack: Path | None,
    config: Path | None,
    force: bool,
    device: str | None,
    heads: HeadOptions,
    **hyper: Any,
) -> None:
    """Train a calibrated LoRA classifier on DATA, a labelled CSV/JSONL export.

    Data health runs first (cleaning, redaction, de-duplication, imbalance check); the model is
    then evaluated on held-out rows against a TF-IDF baseline and the eval gates. Nothing is
    written unless training finishes; a model failing its gates is written, and the command
    exits with an error naming the gate and class."""
    from models.bands import resolve_thresholds
    from models.data import read_texts
    from models.gates import load_pack
    from models.health import HealthConfig
    from models.pipeline import TrainRequest, run

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ModelError(f"--out {out} already exists and is not empty; choose a new directory")
    settings = _settings()  # hyper: TrainConfig's fields (the options made from them), --seed
    train_config = TrainConfig(
        **hyper,
        lora_alpha=2 * hyper["lora_r"],
        device=device or settings.device,
        head_weights=heads.weights,
    )
    rows, taxonomy, val_rows, test_rows = _train_files(
        (data, val, test), text_col, label_col, sub_label_col, hierarchy, heads.columns
    )
    request = TrainRequest(
        data=rows,
        config=train_config,
        pack=load_pack(eval_pack),
        base_model=settings.base_model,
        val=val_rows,
        test=test_rows,
        thresholds=resolve_thresholds(None, settings),
        health=HealthConfig.from_json(config) if config else HealthConfig(),
        force=force,
        on_health=_show_health,
        hierarchy=taxonomy,
        unlabelled=read_texts(unlabelled, text_col) if unlabelled else (),
        on_pseudo=lambda shown: click.echo(shown, err=True),
    )
    result = run(request, out)
    version = result.classifier.version
    click.echo(f"{result.evaluation.render()}\nmodel {version} written to {out}")
    result.evaluation.gates.raise_if_failed(f"model {version} in {out}")


def _train_files(
    paths: tuple[Path, Path | None, Path | None],
    text_col: str,
    label_col: str,
    sub_label_col: str | None,
    hierarchy: Path | None,
    columns: Sequence[HeadColumn] = (),
) -> tuple[LabelledData, Hierarchy | None, LabelledData | None, LabelledData | None]:
    """DATA (with its hierarchy, if one is asked for, or its extra heads' columns), then --val
    and --test when given (with the same head columns)."""
    from models.data import read_labelled
    from models.hierarchy import read_hierarchical

    data, val, test = paths
    rows, taxonomy = read_hierarchical(data, text_col, label_col, sub_label_col, hierarchy, columns)

    def read(path: Path | None) -> LabelledData | None:
        # with a hierarchy the model learns the child: so are validation and test rows read
        return read_labelled(path, text_col, sub_label_col or label_col, columns) if path else None

    return rows, taxonomy, read(val), read(test)


def _show_health(role: str, raw: LabelledData, report: HealthReport) -> None:
    click.echo(f"data health ({role}: {raw.source})\n{report.render()}\n", err=True)


@click.command("evaluate")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@text_col_option
@label_col_option
@click.option(
    "--json", "as_json", is_flag=True, help="print JSON instead of text; one object of metrics"
)
@click.option("--eval-pack", type=click.Path(path_type=Path), help="gate floors (JSON)")
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path),
    help="also write metrics.json, per_class.png, confusion.png and failure_clusters.html here",
)
@health_config_option("the one used at training, so its label synonyms apply")
@click.option(
    "--noisy",
    is_flag=True,
    help="also score a fixed noisy copy of DATA (typos, casing, slang, punctuation, emotion on "
    "a fifth of the words) and print both macro-F1 and the gap",
)
@click.option(
    "--sub-label-col",
    help="the child label column under --label-col (team -> intent); a hierarchy model's child "
    "head is also scored on it (JSON: heads.<name>)",
)
@device_option
def evaluate_command(
    model_dir: Path,
    data: Path,
    text_col: str,
    label_col: str,
    as_json: bool,
    eval_pack: Path | None,
    report_dir: Path | None,
    config: Path | None,
    noisy: bool,
    sub_label_col: str | None,
    device: str | None,
) -> None:
    """Score MODEL_DIR on DATA (a labelled file), beside its TF-IDF baseline, against gates.

    --noisy adds ``noisy`` (clean and noisy macro-F1, the gap) to the JSON and the text."""
    from models.artifact import load
    from models.bands import resolve_thresholds
    from models.data import read_labelled
    from models.evaluate import evaluate
    from models.gates import load_pack
    from models.health import HealthConfig, normalise_label
    from models.train import BASELINE_DIR

    settings = _settings()
    pack = load_pack(eval_pack)
    synonyms = (HealthConfig.from_json(config) if config else HealthConfig()).synonyms
    labelled = read_labelled(data, text_col, label_col)
    # Training normalised labels ("Mortgage " -> "mortgage"); the file being scored must be read
    # the same way, or every one of its labels would count as unknown.
    labels = [normalise_label(label, synonyms) for label in labelled.labels]
    model = load(model_dir, device or settings.device)
    baseline = load(model_dir / BASELINE_DIR) if (model_dir / BASELINE_DIR).is_dir() else None
    click.echo(f"scoring {len(labels)} rows of {data} with model {model.version} ...", err=True)
    thresholds = resolve_thresholds(model, settings)
    evaluation = evaluate(
        model, labelled.texts, labels, pack=pack, baseline=baseline, thresholds=thresholds
    )
    if report_dir is not None:
        from models.report import write_reports

        write_reports(report_dir, evaluation)  # the primary head's
    out = evaluation.to_dict()
    if noisy:
        out["noisy"] = _score_noisy(model, labelled, labels, pack, evaluation.macro_f1)
    if sub_label_col is not None:
        out["heads"] = _score_child(model, baseline, data, text_col, sub_label_col, synonyms, pack)
    if as_json:
        click.echo(json.dumps(out, sort_keys=True))
    else:
        click.echo(evaluation.render())
        if noisy:
            figures = out["noisy"]
            click.echo(
                f"macro-F1 clean {figures['clean_macro_f1']:.4f}, noisy "
                f"{figures['noisy_macro_f1']:.4f}, gap {figures['gap_points']:.2f} points"
            )


def _score_child(
    model: Any, baseline: Any, data: Path, text_col: str, column: str, synonyms: Any, pack: Any
) -> dict[str, Any]:
    from models.data import read_labelled
    from models.health import normalise_label
    from models.hierarchy import evaluate_child

    rows = read_labelled(data, text_col, column)
    labels = [normalise_label(label, synonyms) for label in rows.labels]
    child = evaluate_child(model, baseline, rows.texts, labels, pack)
    click.echo(f"head {model.hierarchy.child_head} ({column}):\n{child.render()}", err=True)
    return {model.hierarchy.child_head: child.to_dict()}


def _score_noisy(
    model: Any, data: LabelledData, labels: list[str], pack: Any, clean_f1: float
) -> dict[str, float]:
    """The same rows as the fixed noisy copy, scored by the same model and labels."""
    from models.augment import noisy_test_copy
    from models.evaluate import evaluate

    noisy_f1 = evaluate(model, noisy_test_copy(data).texts, labels, pack=pack).macro_f1
    return noisy_figures(clean_f1, noisy_f1)


def noisy_figures(clean_f1: float, noisy_f1: float) -> dict[str, float]:
    """Clean and noisy macro-F1 and the gap in points (100 x), as `--noisy` and the bench
    report them."""
    return {
        "clean_macro_f1": round(clean_f1, 4),
        "noisy_macro_f1": round(noisy_f1, 4),
        "gap_points": round(100 * (clean_f1 - noisy_f1), 2),
    }


@click.command("predict")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("texts", nargs=-1, metavar="TEXT")
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="labels listed per text, most likely first",
)
@device_option
def predict_command(
    model_dir: Path, texts: tuple[str, ...], top_k: int, device: str | None
) -> None:
    """Classify TEXT... with MODEL_DIR (one text per line on stdin with `-`): one JSON line
    per text."""
    from models.artifact import load
    from models.bands import ThresholdOverrides

    if texts == ("-",):
        texts = tuple(line.rstrip("\n") for line in sys.stdin if line.strip())
    if not texts:
        raise ModelError(
            "no text to classify: pass TEXT arguments, or `-` to read lines from stdin"
        )
    settings = _settings()
    model = load(model_dir, device or settings.device)
    # the band rule read once: thresholds as resolve_thresholds gives them, and the escalation
    overrides = ThresholdOverrides.from_settings(settings)
    thresholds, escalation = overrides.for_model(model), overrides.escalation
    scores = model.score(list(texts))
    for i in range(len(texts)):
        line = _prediction(scores, i, model.labels, (thresholds, escalation), top_k)
        click.echo(json.dumps({**line, "model_version": model.version}))


def _prediction(
    scores: Scores, i: int, labels: list[str], rule: tuple[Thresholds, Escalation], top_k: int
) -> dict[str, Any]:
    """Row ``i`` as `triage predict` prints it: the primary head, then every other head,
    banded by ``rule`` (thresholds, then the escalation rule over every head's answer)."""
    from models.bands import head_answers, head_decisions

    thresholds, escalation = rule

    def top(proba: Any, names: list[str]) -> list[dict[str, Any]]:
        return [
            {"label": names[j], "p": round(float(proba[j]), 4)}
            for j in proba.argsort()[::-1][:top_k]
        ]

    novel, confidence = bool(scores.novel[i]), float(scores.proba[i].max())
    ranked = top(scores.proba[i], labels)
    decided = head_decisions(scores, i, thresholds, novel=novel, top_k=top_k)
    heads = {
        name: {
            "label": head.label,
            "confidence": round(head.confidence, 4),
            "band": head.band,
            "top_k": [{"label": s.label, "p": round(s.probability, 4)} for s in head.top_k],
            **({"labels": head.labels} if head.labels is not None else {}),
        }
        for name, head in decided.items()
    }
    line = {
        "label": ranked[0]["label"],
        "confidence": round(confidence, 4),
        "band": thresholds.band(confidence, novel=novel),
        "novel": novel,
        "novelty": round(float(scores.novelty[i]), 4),
        "top_k": ranked,
        "heads": heads,
    }
    fired = escalation.fired(ranked[0]["label"], head_answers(decided))
    if fired is not None:
        line.update(band="manual", escalated=fired)
    return line


COMMANDS: list[click.Command] = [train_command, evaluate_command, predict_command]
