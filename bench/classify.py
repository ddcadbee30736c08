"""Topic classifier quality and speed. Prints figures; asserts nothing.

Protocols (``--protocols``, comma-separated; default ``heldout,speed``):

- ``heldout``: de-duplicate the combined corpora, split them stratified into
  train / calibration / test, fit with the shipped settings on train (plus
  title and title + lead views), choose temperature and fallback threshold on
  calibration, score the test items: accuracy, macro-F1, per-label
  precision/recall/F1, confusion matrix, ECE, macro-F1 per corpus, and the
  length slices (title only, title + first paragraph, full article).
- ``loco``: leave one corpus out, for each corpus (``--corpus NAME`` to run
  one or a few); scored on the labels that corpus has. Slow: one fit each.
- ``oot``: out of time: fit on the corpora dated before 2015 (bbc-news,
  ag-news-test, tagmynews-2011, uci-news-aggregator), score those of 2018-2021
  (machinehack-news, inshorts-2020), full text and titles alone. One fit.
- ``artifact``: the shipped (or ``--artifact``) model on a labeled set
  (``--jsonl FILE`` with ``{"text", "label"}`` lines; default: every corpus,
  which the shipped model has seen, so only a sanity check).
- ``speed``: articles/s of ``TopicModel.predict`` for 4 KB articles on one
  core, the artifact size and the process memory.

``heldout`` and ``loco`` fit with the shipped settings: hashed word n-grams plus
the distilled MiniLM word vectors. ``--no-word-vectors`` fits the hashed n-grams
alone (the format-2 model), for comparison on the same splits.

    .venv/bin/python bench/classify.py [--protocols heldout,loco,oot,speed] [--corpus NAME]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import scraped_pages
from training import (
    Item,
    TrainSettings,
    corpus_names,
    deduplicate,
    evaluate_loco,
    evaluate_out_of_time,
    heldout_report,
    load_corpora,
    load_jsonl,
    loco_summary,
    metrics,
)
from worker.model import DEFAULT_ARTIFACT, load_model
from worker.pipeline.classify import TopicModel

ROOT = Path(__file__).resolve().parents[1]
CORPORA_DIR = ROOT.parent / "shared" / "corpora"


def print_metrics(title: str, result: dict[str, Any]) -> None:
    """Accuracy, macro-F1, ECE, per-label table and confusion matrix of one result."""
    ece = f"  ECE {result['ece']:.3f}" if "ece" in result else ""
    fallback = (
        f"  fell back to other {result['fallback_rate']:.1%}" if "fallback_rate" in result else ""
    )
    print(
        f"\n== {title}: n={result['n']}  accuracy {result['accuracy']:.3f}"
        f"  macro-F1 {result['macro_f1']:.3f}{ece}{fallback}"
    )
    print(f"  {'label':<14}{'precision':>10}{'recall':>8}{'F1':>7}{'support':>9}")
    for label, row in result["per_label"].items():
        print(
            f"  {label:<14}{row['precision']:>10.3f}{row['recall']:>8.3f}"
            f"{row['f1']:>7.3f}{row['support']:>9}"
        )
    labels = result["confusion"]["rows_true_cols_pred"]
    print("  confusion (rows true, columns predicted):")
    print("  " + " " * 14 + "".join(f"{label[:12]:>13}" for label in labels))
    for label, row in zip(labels, result["confusion"]["matrix"], strict=True):
        print(f"  {label:<14}" + "".join(f"{v:>13}" for v in row))


def brief(result: dict[str, Any]) -> str:
    ece = f"  ECE {result['ece']:.3f}" if "ece" in result else ""
    return (
        f"n={result['n']:<6} acc {result['accuracy']:.3f}  macro-F1 {result['macro_f1']:.3f}{ece}"
    )


def run_heldout(corpora_dir: Path, seed: int, settings: TrainSettings) -> dict[str, Any]:
    started = time.perf_counter()
    report = heldout_report(corpora_dir, seed=seed, settings=settings)
    stats = report["dedup"]
    print(f"{stats['kept']} items after de-duplication ({json.dumps(stats)})")
    if "skipped" in report:
        print(f"held-out skipped: {report['skipped']}")
        return report
    print_metrics(
        f"held-out (stratified test split of {stats['kept']} de-duplicated items, "
        f"trained on {report['n_train']}, temperature {report['temperature']}, "
        f"threshold {report['threshold']})",
        report,
    )
    print(
        "  macro-F1 per corpus: "
        + ", ".join(f"{k} {v:.3f}" for k, v in report["macro_f1_per_corpus"].items())
    )
    print("  length slices (test items that have a title and a body):")
    for name, result in report["length_slices"].items():
        print(f"    {name:<11} {brief(result)}")
    print(f"    {'title only':<11} {brief(report['title_only'])}  (every test item with a title)")
    print(f"  ({time.perf_counter() - started:.0f} s)")
    return report


def run_loco(
    corpora_dir: Path, seed: int, only: list[str] | None, settings: TrainSettings, guide: bool
) -> dict[str, Any]:
    started = time.perf_counter()
    results = evaluate_loco(corpora_dir, seed=seed, only=only, settings=settings, guide=guide)
    print("\n== leave one corpus out (fit on the others, score the left-out one)")
    for name, result in results.items():
        title = result.get("title_only")
        extra = f"   titles: macro-F1 {title['macro_f1']:.3f}" if title else ""
        print(f"  {name:<20} {brief(result)}{extra}")
        other = result["other_labels"]
        other_titles = other.get("title_only")
        print(
            f"  {'':<20} on the {'corpus' if guide else 'guide'}'s labels: {brief(other)}"
            + (f"   titles: macro-F1 {other_titles['macro_f1']:.3f}" if other_titles else "")
        )
    if results:
        summary = loco_summary(results)
        worst = summary["lowest_but_sib200"]
        print(
            f"  mean macro-F1 {summary['mean_macro_f1']:.3f}"
            + (f"; lowest but sib200: {worst[0]} {worst[1]:.3f}" if worst else "")
            + (
                f"; titles alone, mean {summary['title_only_mean_macro_f1']:.3f}"
                if summary["title_only_mean_macro_f1"] is not None
                else ""
            )
            + f"; largest ECE {summary['max_ece']}"
        )
    print(f"  ({time.perf_counter() - started:.0f} s)")
    return results


def run_oot(corpora_dir: Path, seed: int, settings: TrainSettings, guide: bool) -> dict[str, Any]:
    started = time.perf_counter()
    result = evaluate_out_of_time(corpora_dir, seed=seed, settings=settings, guide=guide)
    print_metrics(
        f"out of time: fit on {', '.join(result['train_corpora'])} "
        f"({result['n_train']} items), scored on the 2018-2021 corpora",
        result,
    )
    if "title_only" in result:
        print(f"  titles alone: {brief(result['title_only'])}")
    for name, entry in result["per_corpus"].items():
        titles = entry.get("title_only")
        extra = f"   titles: {brief(titles)}" if titles else ""
        print(f"  {name:<20} {brief(entry)}{extra}")
    print(f"  ({time.perf_counter() - started:.0f} s)")
    return result


def run_artifact(model: TopicModel, items: list[Item], source: str) -> dict[str, Any]:
    import numpy as np

    labels = model.labels
    index = {label: i for i, label in enumerate(labels)}
    items = [i for i in items if i.label in index]
    probs = np.array([model.probabilities(i.text) for i in items])
    pred = np.array([model.decide(p) for p in probs], dtype=np.int64)
    y = np.array([index[i.label] for i in items], dtype=np.int64)
    result = metrics(y, pred, probs, labels)
    print_metrics(f"artifact {model.version} on {source}", result)
    return result


def articles_4kb(n: int) -> list[str]:
    """n article texts (title + body) of about 4 KB, from the BBC corpus."""
    texts = []
    for page in scraped_pages(n):
        article = page.split("\nYou may also like...")[0]
        title, _, body = article.partition("\n")
        text = f"{title.rsplit(' - ', 1)[0]}\n{body}"
        while len(text.encode()) < 4096:
            text += "\n" + body
        texts.append(text.encode()[:4096].decode(errors="ignore"))
    return texts


def run_speed(model: TopicModel, artifact: Path, n: int) -> dict[str, Any]:
    texts = articles_4kb(n)
    for text in texts[:50]:  # warm up
        model.predict(text)
    wall, cpu = [], []
    for _ in range(3):
        started, started_cpu = time.perf_counter(), time.process_time()
        for text in texts:
            model.predict(text)
        wall.append((time.perf_counter() - started) / len(texts))
        cpu.append((time.process_time() - started_cpu) / len(texts))
    best_wall, best_cpu = min(wall), min(cpu)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = artifact.stat().st_size / 1e6
    print(f"\n== speed: {n} articles of 4 KB, TopicModel.predict, one core (best of 3)")
    print(f"  wall {best_wall * 1e3:.3f} ms/article  {1 / best_wall:,.0f} articles/s")
    print(f"  cpu  {best_cpu * 1e3:.3f} ms/article  {1 / best_cpu:,.0f} articles/s")
    print(f"  artifact {artifact.name}: {size_mb:.1f} MB; process peak RSS {rss_mb:.0f} MB")
    return {
        "ms_per_article": best_wall * 1e3,
        "articles_per_s": 1 / best_wall,
        "cpu_articles_per_s": 1 / best_cpu,
        "artifact_mb": size_mb,
        "peak_rss_mb": rss_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocols", default="heldout,speed")
    parser.add_argument("--corpora", type=Path, default=CORPORA_DIR)
    parser.add_argument("--corpus", action="append", help="loco: only leave out this corpus")
    parser.add_argument("--artifact", type=Path, default=DEFAULT_ARTIFACT)
    parser.add_argument("--jsonl", type=Path, help="artifact: labeled JSON lines to score")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("-n", type=int, default=2000, help="speed: number of articles")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--no-word-vectors",
        action="store_true",
        help="heldout/loco: hashed n-grams only, without the distilled word vectors",
    )
    parser.add_argument(
        "--guide",
        action="store_true",
        help="loco/oot: train and score on the labelling guide's labels (training/guide.py)",
    )
    parser.add_argument("--c", type=float, help="heldout/loco/oot: the inverse regularisation C")
    parser.add_argument(
        "--embed-scale", type=float, help="heldout/loco/oot: the word-vector block's norm"
    )
    parser.add_argument(
        "--title-weight", type=float, help="heldout/loco/oot: weight of the title-only views"
    )
    args = parser.parse_args()
    settings = TrainSettings(word_vectors=None) if args.no_word_vectors else TrainSettings()
    if args.c is not None:
        settings = dataclasses.replace(settings, c=args.c)
    if args.title_weight is not None:
        settings = dataclasses.replace(settings, title_weight=args.title_weight)
    if args.embed_scale is not None:
        settings = dataclasses.replace(settings, embed_scale=args.embed_scale)
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = set(protocols) - {"heldout", "loco", "oot", "artifact", "speed"}
    if unknown:
        raise SystemExit(f"unknown protocols {sorted(unknown)}")
    needs_corpora = {"heldout", "loco", "oot"} & set(protocols) or (
        "artifact" in protocols and args.jsonl is None
    )
    if needs_corpora and not args.corpora.is_dir():
        raise SystemExit(f"no corpora folder at {args.corpora}")

    figures: dict[str, Any] = {}
    if "heldout" in protocols:
        figures["heldout"] = run_heldout(args.corpora, args.seed, settings)
    if "loco" in protocols:
        try:
            only = corpus_names(args.corpus) if args.corpus else None
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
        figures["loco"] = run_loco(args.corpora, args.seed, only, settings, args.guide)
    if "oot" in protocols:
        figures["oot"] = run_oot(args.corpora, args.seed, settings, args.guide)
    if "artifact" in protocols or "speed" in protocols:
        model = load_model(args.artifact)
        if "artifact" in protocols:
            if args.jsonl is not None:
                items, source = load_jsonl(args.jsonl), str(args.jsonl)
            else:
                items, _ = deduplicate(load_corpora(args.corpora))
                source = "the corpora it was trained on"
            figures["artifact"] = run_artifact(model, items, source)
        if "speed" in protocols:
            figures["speed"] = run_speed(model, args.artifact, args.n)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
