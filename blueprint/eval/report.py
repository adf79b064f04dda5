"""An evaluation's results, aggregated, and written out for people to read.

`Report.write(out_dir)` writes

- `report.json`: every image's scores, checks and OCR reads, the skipped rows,
  and the aggregates (per kind x size, per kind, per number of text
  elements, overall);
- `report.md`: one table per OCR engine, a row per kind and size and per
  number of text elements (word accuracy, NED, exact match, adherence, n),
  plus what was skipped;
- `metrics.png`: a bar plot of the metrics per kind (matplotlib, Agg);
- `grid.png`: a grid of (up to GRID_MAX) images with what OCR read under each.

Aggregates are plain means over images (an image without text counts only
towards adherence). Rows that were skipped count nowhere, and every output
says how many there were.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from blueprint.errors import BlueprintError
from blueprint.files import atomic_write_json, atomic_write_text

GRID_MAX = 24
GRID_COLUMNS = 6
METRICS = ("word_accuracy", "ned", "exact")
TEXT_COUNT_GROUPS = ("one text", "two to four texts", "five or more texts")


def text_count_group(n: int) -> str:
    return TEXT_COUNT_GROUPS[0] if n == 1 else TEXT_COUNT_GROUPS[1] if n <= 4 else TEXT_COUNT_GROUPS[2]


@dataclass
class SkippedImage:
    id: str
    reason: str   # missing | unreadable
    detail: str


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


@dataclass
class Report:
    engines: tuple[str, ...]
    results: list = field(default_factory=list)     # list[ImageResult]
    skipped: list[SkippedImage] = field(default_factory=list)
    bad_rows: list[dict] = field(default_factory=list)  # benchmark rows left out: {"line", "problem"}

    @property
    def resized(self) -> list:
        return [r for r in self.results if r.resized_from is not None]

    def aggregate(self, results) -> dict:
        """Means over `results`: per engine the text metrics, plus adherence and check pass rates."""
        out = {"n": len(results)}
        for engine in self.engines:
            out[engine] = {m: _mean(getattr(r.text[engine], m) for r in results) for m in METRICS}
        out["adherence"] = _mean(r.adherence for r in results)
        by_check: dict[str, list[bool]] = {}
        for r in results:
            for c in r.checks:
                by_check.setdefault(c.name, []).append(c.passed)
        out["checks"] = {name: sum(v) / len(v) for name, v in sorted(by_check.items())}
        out["seconds_per_image"] = _mean(r.seconds for r in results)
        return out

    def groups(self) -> dict[tuple[str, str], list]:
        """Results by (kind, 'WxH'), in first-seen order."""
        groups: dict[tuple[str, str], list] = {}
        for r in self.results:
            groups.setdefault((r.kind, f"{r.width}x{r.height}"), []).append(r)
        return groups

    def by_kind(self) -> dict[str, list]:
        kinds: dict[str, list] = {}
        for r in self.results:
            kinds.setdefault(r.kind, []).append(r)
        return kinds

    def by_text_count(self) -> dict[str, list]:
        """Results by how many text elements the spec asks for (the benchmark's floors
        are set for one text element and for two to four); images without text are left out."""
        counts: dict[str, list] = {}
        for r in self.results:
            n = len(next(iter(r.text.values())).lines) if r.text else 0
            if n:
                counts.setdefault(text_count_group(n), []).append(r)
        return {g: counts[g] for g in TEXT_COUNT_GROUPS if g in counts}

    def summary(self) -> dict:
        return {
            "overall": self.aggregate(self.results),
            "by_kind": {k: self.aggregate(v) for k, v in self.by_kind().items()},
            "by_kind_and_size": {f"{k} {s}": self.aggregate(v) for (k, s), v in self.groups().items()},
            "by_text_count": {g: self.aggregate(v) for g, v in self.by_text_count().items()},
        }

    def to_dict(self) -> dict:
        images = []
        for r in self.results:
            d = asdict(r)
            d["checks"] = [c.to_dict() for c in r.checks]
            images.append(d)
        return {
            "engines": list(self.engines),
            "n_scored": len(self.results),
            "n_skipped": len(self.skipped),
            "skipped": [asdict(s) for s in self.skipped],
            "bad_rows": self.bad_rows,
            "resized": [{"id": r.id, "from": list(r.resized_from), "to": [r.width, r.height]} for r in self.resized],
            "summary": self.summary(),
            "images": images,
        }

    def markdown(self) -> str:
        lines = [f"# Evaluation: {len(self.results)} images scored, {len(self.skipped)} skipped", ""]
        for engine in self.engines:
            lines += [f"## OCR: {engine}", "",
                      "| kind | size | word acc | NED | exact | adherence | n |",
                      "|---|---|---|---|---|---|---|"]
            rows = ([(k, s, v) for (k, s), v in self.groups().items()]
                    + [(f"*{g}*", "", v) for g, v in self.by_text_count().items()]
                    + [("**all**", "", self.results)])
            for kind, size, results in rows:
                a = self.aggregate(results)
                m = a[engine]
                lines.append(f"| {kind} | {size} | {_fmt(m['word_accuracy'])} | {_fmt(m['ned'])} | "
                             f"{_fmt(m['exact'])} | {_fmt(a['adherence'])} | {a['n']} |")
            lines.append("")
        checks = self.aggregate(self.results)["checks"]
        if checks:
            lines += ["## Adherence checks passed", "", "| check | pass rate |", "|---|---|"]
            lines += [f"| {name} | {_fmt(rate)} |" for name, rate in checks.items()] + [""]
        if self.skipped:
            lines += [f"## Skipped ({len(self.skipped)})", ""]
            lines += [f"- `{s.id}`: {s.reason} ({s.detail})" for s in self.skipped] + [""]
        if self.bad_rows:
            lines += [f"## Bad benchmark rows skipped ({len(self.bad_rows)})", ""]
            lines += [f"- line {b['line']}: {b['problem']}" for b in self.bad_rows] + [""]
        if self.resized:
            lines += [f"## Resized to the benchmark size ({len(self.resized)})", ""]
            lines += [f"- `{r.id}`: {r.resized_from[0]}x{r.resized_from[1]} -> {r.width}x{r.height}"
                      for r in self.resized] + [""]
        return "\n".join(lines)

    def write(self, out_dir: str | Path, images: dict | None = None) -> list[Path]:
        """Write the report files; `images` (id -> PIL image) adds the OCR grid."""
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise BlueprintError(f"report folder {out} exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "report.json", out / "report.md", out / "metrics.png"]
        atomic_write_json(paths[0], self.to_dict())
        atomic_write_text(paths[1], self.markdown())
        self.plot_metrics(paths[2])
        if images:
            paths.append(out / "grid.png")
            self.plot_grid(paths[3], images)
        return paths

    def plot_metrics(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt

        kinds = self.by_kind()
        names = [(e, m) for e in self.engines for m in METRICS] + [(None, "adherence")]
        fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(kinds) * len(names) / 3), 4))
        width = 0.8 / len(names)
        for i, (engine, metric) in enumerate(names):
            values = []
            for results in kinds.values():
                a = self.aggregate(results)
                v = a["adherence"] if engine is None else a[engine][metric]
                values.append(v if v is not None else 0.0)
            label = metric if engine is None else f"{metric} ({engine})"
            ax.bar([k + (i - (len(names) - 1) / 2) * width for k in range(len(kinds))], values, width, label=label)
        ax.set_xticks(range(len(kinds)), [f"{k}\n(n={len(v)})" for k, v in kinds.items()])
        ax.set_ylim(0, 1.3)  # head room for the legend above the bars
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_ylabel("mean over images")
        ax.legend(fontsize=7, ncol=4, loc="upper center")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)

    def plot_grid(self, path: Path, images: dict) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        results = [r for r in self.results if r.id in images][:GRID_MAX]
        if not results:
            return
        columns = min(GRID_COLUMNS, len(results))
        rows = math.ceil(len(results) / columns)
        fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 3.4 * rows), squeeze=False)
        engine = self.engines[0]
        for ax in axes.flat:
            ax.axis("off")
        for ax, r in zip(axes.flat, results):
            ax.imshow(images[r.id])
            t = r.text[engine]
            read = " ".join(t.words_read) or "(nothing read)"
            ax.set_title(r.id, fontsize=7)
            ax.text(0.5, -0.02, _wrap(f"{engine}: {read}", 40) + f"\nacc {_fmt(t.word_accuracy)}  adh {_fmt(r.adherence)}",
                    transform=ax.transAxes, ha="center", va="top", fontsize=6,
                    parse_math=False)  # prices read as "$6.75 ... $79.75" are text, not mathtext
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _wrap(text: str, width: int, max_lines: int = 4) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += " ..."
    return "\n".join(lines)
