"""Readers for text tables (CSV, TSV, JSONL, Parquet) and NumPy ``.npz`` arrays, and
:data:`READERS`, every file reader keyed by its ``data.format`` value (image folders included).

Every reader validates before returning: a problem is a :class:`DataError` naming the file and
the row (and the line, for text files), so no training starts on data that cannot be used.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.config.data import DataConfig
from tunesmith.engine.data.images import read_image_folder
from tunesmith.engine.data.raw import RawSplit, normalise_labels
from tunesmith.errors import DataError
from tunesmith.utils.registry import Registry

log = logging.getLogger(__name__)


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: data file does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{path}: expected a data file, found a directory") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read data file: {exc.strerror}") from None
    name = path.name.lower()
    try:
        if name.endswith(".gz"):
            import gzip

            raw = gzip.decompress(raw)
        elif name.endswith(".bz2"):
            import bz2

            raw = bz2.decompress(raw)
        elif name.endswith(".xz"):
            import lzma

            raw = lzma.decompress(raw)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"{path}: cannot decompress data file: {exc}") from None
    return raw


def read_text(path: Path, encoding: str) -> str:
    """Decode a file; an undecodable byte names its line and the ``data.encoding`` option."""
    raw = _read_bytes(path)
    if not raw.strip():
        raise DataError(f"{path}: file is empty")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line}: byte {raw[exc.start : exc.start + 1]!r} at offset {exc.start} "
            f"cannot be decoded as {encoding!r}; set data.encoding to the file's encoding "
            "(for example latin-1 or cp1252)"
        ) from None
    return text.removeprefix("\ufeff")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _columns_error(
    path: Path, col: str, option: str, found: list[str], where: str = ""
) -> DataError:
    shown = ", ".join(repr(c) for c in found[:30]) or "(none)"
    return DataError(
        f"{path}{where}: missing column {col!r} (set by {option}); columns found: {shown}"
    )


def _finish(
    path: Path,
    texts: list[Any],
    labels: list[Any],
    rows: list[int],
    lines: list[int] | None,
    cfg: DataConfig,
) -> RawSplit:
    split = RawSplit("text", texts, normalise_labels(labels), str(path), rows, None, lines)
    for i, (t, y) in enumerate(zip(texts, split.labels, strict=True)):
        if _missing(t):
            raise DataError(f"{split.locate(i)}: {cfg.text_column!r} is empty (missing text)")
        if not isinstance(t, str):
            raise DataError(f"{split.locate(i)}: {cfg.text_column!r} must be text, got {t!r}")
        if _missing(y) or y == "":
            raise DataError(f"{split.locate(i)}: {cfg.label_column!r} is empty (missing label)")
    return split


def _bare_cr_hint(text: str) -> str:
    """A hint when the file has carriage returns without a line feed after them: a bare ``\\r``
    inside an unquoted field ends the row there, which makes a ragged row."""
    count = len(re.findall(r"\r(?!\n)", text))
    if not count:
        return ""
    return (
        f"; likely cause: the file has {count} bare carriage return(s) (\\r without \\n), "
        "which end a row inside an unquoted field; quote those fields or remove the \\r"
    )


def read_delimited(path: Path, cfg: DataConfig, delimiter: str) -> RawSplit:
    """CSV/TSV with a header row; ragged rows and missing columns name the row."""
    text = read_text(path, cfg.encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the header row: {exc}") from None
    header = [h.strip() for h in header]
    for option, col in (
        ("data.text_column", cfg.text_column),
        ("data.label_column", cfg.label_column),
    ):
        if header.count(col) > 1:
            raise DataError(
                f"{path}: header row: column {col!r} (set by {option}) appears "
                f"{header.count(col)} times; rule: the columns used must be named once"
            )
    _require_columns(path, cfg, header)
    ti, li = header.index(cfg.text_column), header.index(cfg.label_column)
    texts: list[Any] = []
    labels: list[Any] = []
    rows: list[int] = []
    lines: list[int] = []
    row = 0
    start_line = reader.line_num + 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(
                f"{path}: row {row + 1} (line {reader.line_num}): malformed: {exc}"
            ) from None
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            start_line = reader.line_num + 1
            continue
        row += 1
        if len(fields) != len(header):
            raise DataError(
                f"{path}: row {row} (line {start_line}) has {len(fields)} fields, the header has "
                f"{len(header)}; rule: every row has as many fields as the header (ragged row)"
                + _bare_cr_hint(text)
            )
        texts.append(fields[ti])
        labels.append(fields[li])
        rows.append(row)
        lines.append(start_line)
        start_line = reader.line_num + 1
    if not rows:
        raise DataError(f"{path}: file has a header row but no data rows")
    return _finish(path, texts, labels, rows, lines, cfg)


def read_csv(path: Path, cfg: DataConfig) -> RawSplit:
    """A comma-separated table with a header row (see :func:`read_delimited`)."""
    return read_delimited(path, cfg, ",")


def read_tsv(path: Path, cfg: DataConfig) -> RawSplit:
    """A tab-separated table with a header row (see :func:`read_delimited`)."""
    return read_delimited(path, cfg, "\t")


def _require_columns(path: Path, cfg: DataConfig, have: list[str], where: str = "") -> None:
    """The text and label columns must both be among ``have`` (a header, or a row's keys)."""
    for col, option in (
        (cfg.text_column, "data.text_column"),
        (cfg.label_column, "data.label_column"),
    ):
        if col not in have:
            raise _columns_error(path, col, option, have, where)


def read_jsonl(path: Path, cfg: DataConfig) -> RawSplit:
    """One JSON object per line; a line that is not an object, or lacks a key, names its row."""
    text = read_text(path, cfg.encoding)
    texts: list[Any] = []
    labels: list[Any] = []
    rows: list[int] = []
    lines: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = len(rows) + 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: row {row} (line {lineno}): invalid JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise DataError(
                f"{path}: row {row} (line {lineno}): expected a JSON object, "
                f"got {type(obj).__name__}"
            )
        _require_columns(path, cfg, list(obj), f": row {row} (line {lineno})")
        texts.append(obj[cfg.text_column])
        labels.append(obj[cfg.label_column])
        rows.append(row)
        lines.append(lineno)
    if not rows:
        raise DataError(f"{path}: file holds no JSON rows")
    return _finish(path, texts, labels, rows, lines, cfg)


def read_parquet(path: Path, cfg: DataConfig) -> RawSplit:
    """A Parquet table (needs pyarrow: ``pip install 'tunesmith[parquet]'``)."""
    from tunesmith.errors import require

    require("pyarrow", "parquet", "reading Parquet files")
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataError(f"{path}: data file does not exist")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{path}: cannot read Parquet file: {exc}") from None
    found = list(table.column_names)
    for col, option in (
        (cfg.text_column, "data.text_column"),
        (cfg.label_column, "data.label_column"),
    ):
        if col not in found:
            raise _columns_error(path, col, option, found)
    if table.num_rows == 0:
        raise DataError(f"{path}: table has columns but no data rows")
    texts = table.column(cfg.text_column).to_pylist()
    labels = table.column(cfg.label_column).to_pylist()
    rows = list(range(1, len(texts) + 1))
    return _finish(path, texts, labels, rows, None, cfg)


def read_npz(path: Path, cfg: DataConfig) -> RawSplit:
    """Arrays ``x`` (images ``N×H×W[×C]``/``N×C×H×W`` or features ``N×D``) and labels ``y``."""
    if not path.is_file():
        raise DataError(f"{path}: data file does not exist")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (zero bytes)")
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.files)
            for key, option in ((cfg.x_key, "data.x_key"), (cfg.y_key, "data.y_key")):
                if key not in keys:
                    raise DataError(
                        f"{path}: missing array {key!r} (set by {option}); arrays found: "
                        f"{', '.join(map(repr, keys)) or '(none)'}"
                    )
            x = np.asarray(z[cfg.x_key])
            y = np.asarray(z[cfg.y_key])
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"{path}: cannot read arrays (object arrays are refused): {exc}") from None
    except Exception as exc:  # zipfile / format errors
        raise DataError(f"{path}: not a readable .npz file: {exc}") from None
    if y.ndim != 1:
        raise DataError(
            f"{path}: {cfg.y_key!r} must be 1-D (one label per row), got shape {y.shape}"
        )
    if len(x) != len(y):
        raise DataError(f"{path}: {cfg.x_key!r} has {len(x)} rows but {cfg.y_key!r} has {len(y)}")
    if len(y) == 0:
        raise DataError(f"{path}: arrays hold no rows")
    if x.dtype.kind not in "uif":
        raise DataError(f"{path}: {cfg.x_key!r} must be numeric, got dtype {x.dtype}")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        if bad.any():
            raise DataError(
                f"{path}: row {int(np.argmax(bad)) + 1}: {cfg.x_key!r} holds NaN or inf"
            )
    modality = {2: "tabular", 3: "image", 4: "image"}.get(x.ndim)
    if modality is None:
        raise DataError(
            f"{path}: {cfg.x_key!r} must have 2, 3 or 4 dimensions, got shape {x.shape}"
        )
    if x.ndim == 4:
        if x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
            x = np.transpose(x, (0, 2, 3, 1))
        if x.shape[-1] not in (1, 3):
            raise DataError(f"{path}: images need 1 or 3 channels, got shape {x.shape}")
    labels = normalise_labels(y.tolist())
    rows = list(range(1, len(labels) + 1))
    return RawSplit(modality, x, labels, str(path), rows)


Reader = Callable[[Path, DataConfig], RawSplit]

#: ``data.format`` -> reader(path, cfg); ``auto`` and ``builtin`` are not file formats.
READERS: Registry[Reader] = Registry(
    "data format",
    {
        "csv": read_csv,
        "tsv": read_tsv,
        "jsonl": read_jsonl,
        "parquet": read_parquet,
        "image_folder": read_image_folder,
        "npz": read_npz,
    },
)


def read_file(path: str, cfg: DataConfig) -> RawSplit:
    """Read ``path`` with the reader of ``cfg.format_of(path)``."""
    fmt = cfg.format_of(path)
    p = Path(path).expanduser()
    reader = READERS.get(fmt)
    if reader is None:  # builtin: a dataset by name, not a file
        raise DataError(f"{path}: data.format {fmt!r} cannot read files")
    log.debug("reading %s as %s", p, fmt)
    return reader(p, cfg)
