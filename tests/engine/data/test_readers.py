"""Text tables and .npz: good files read; every bad file is a DataError naming file and row."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tunesmith.config.data import DataConfig
from tunesmith.engine.data.readers import read_file
from tunesmith.errors import ConfigError, DataError


def _cfg(path, **kw):
    return DataConfig(train=str(path), **kw)


def test_csv_reads_quoted_multiline_and_skips_blank_lines(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text('text,label\n"hello, world",pos\n\n"two\nlines",neg\nplain,pos\n')
    raw = read_file(str(p), _cfg(p))
    assert raw.inputs == ["hello, world", "two\nlines", "plain"]
    assert raw.labels == ["pos", "neg", "pos"]
    assert raw.rows == [1, 2, 3]
    assert raw.lines == [2, 4, 6]


def test_tsv_and_custom_columns_and_encoding(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_bytes("sentence\ty\nCaf\xe9 cr\xe8me\t1\n".encode("latin-1"))
    raw = read_file(str(p), _cfg(p, text_column="sentence", label_column="y", encoding="latin-1"))
    assert raw.inputs == ["Café crème"] and raw.labels == ["1"]


def test_jsonl_keeps_label_types(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "a", "label": 1}\n\n{"text": "b", "label": 0}\n')
    raw = read_file(str(p), _cfg(p))
    assert raw.labels == [1, 0] and raw.lines == [1, 3]


def test_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    p = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]}).to_parquet(p)
    raw = read_file(str(p), _cfg(p))
    assert raw.inputs == ["a", "b"] and raw.labels == ["x", "y"]


@pytest.mark.parametrize(
    ("name", "content", "kw", "needles"),
    [
        ("missing.csv", "body,label\nx,1\n", {}, ["missing column 'text'", "'body'", "'label'"]),
        ("empty.csv", "", {}, ["file is empty"]),
        ("header.csv", "text,label\n", {}, ["header row but no data rows"]),
        (
            "ragged.csv",
            "text,label\na,1\nb,1,extra\n",
            {},
            ["row 2 (line 3)", "3 fields", "ragged"],
        ),
        ("short.csv", "text,label\na,1\nb\n", {}, ["row 2 (line 3)", "1 fields"]),
        ("nolabel.csv", "text,label\na,1\nb,\n", {}, ["row 2", "missing label"]),
        (
            "bad.jsonl",
            '{"text": "a", "label": 1}\n{"text": \n',
            {},
            ["row 2 (line 2)", "invalid JSON"],
        ),
        ("list.jsonl", "[1, 2]\n", {}, ["row 1", "JSON object"]),
        (
            "nokey.jsonl",
            '{"text": "a", "label": 1}\n{"text": "b"}\n',
            {},
            ["row 2", "missing column 'label'"],
        ),
        ("nulltext.jsonl", '{"text": null, "label": 1}\n', {}, ["row 1", "missing text"]),
        ("numtext.jsonl", '{"text": 5, "label": 1}\n', {}, ["row 1", "must be text"]),
    ],
)
def test_bad_text_files(tmp_path, name, content, kw, needles):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(DataError) as info:
        read_file(str(p), _cfg(p, **kw))
    msg = str(info.value)
    assert str(p) in msg
    for needle in needles:
        assert needle in msg


def test_undecodable_text_names_line_and_option(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes(b"text,label\nok,1\ncaf\xe9,0\n")
    with pytest.raises(DataError) as info:
        read_file(str(p), _cfg(p))
    msg = str(info.value)
    assert str(p) in msg and "line 3" in msg and "data.encoding" in msg


def test_missing_file(tmp_path):
    p = tmp_path / "nope.csv"
    with pytest.raises(DataError, match="does not exist"):
        read_file(str(p), _cfg(p))


def test_parquet_missing_column_and_empty(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    p = tmp_path / "d.parquet"
    pd.DataFrame({"body": ["a"], "label": ["x"]}).to_parquet(p)
    with pytest.raises(DataError, match=r"missing column 'text'.*'body'"):
        read_file(str(p), _cfg(p))
    q = tmp_path / "e.parquet"
    pd.DataFrame({"text": [], "label": []}).to_parquet(q)
    with pytest.raises(DataError, match="no data rows"):
        read_file(str(q), _cfg(q))
    z = tmp_path / "z.parquet"
    z.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        read_file(str(z), _cfg(z))


def test_npz_images_features_and_errors(tmp_path):
    p = tmp_path / "imgs.npz"
    np.savez(p, x=np.zeros((4, 3, 8, 8), dtype=np.uint8), y=np.array([0, 1, 0, 1]))
    raw = read_file(str(p), _cfg(p))
    assert (
        raw.modality == "image" and raw.inputs.shape == (4, 8, 8, 3) and raw.labels == [0, 1, 0, 1]
    )
    q = tmp_path / "feat.npz"
    np.savez(q, feats=np.ones((3, 5), dtype=np.float32), target=np.array(["a", "b", "a"]))
    raw = read_file(str(q), _cfg(q, x_key="feats", y_key="target"))
    assert raw.modality == "tabular" and raw.labels == ["a", "b", "a"]
    with pytest.raises(DataError, match=r"missing array 'x'.*'feats'"):
        read_file(str(q), _cfg(q))
    r = tmp_path / "nan.npz"
    x = np.ones((3, 2), dtype=np.float32)
    x[2, 1] = np.nan
    np.savez(r, x=x, y=np.array([0, 1, 0]))
    with pytest.raises(DataError, match=rf"{r}: row 3"):
        read_file(str(r), _cfg(r))
    s = tmp_path / "obj.npz"
    np.savez(s, x=np.array([{"a": 1}, {"b": 2}], dtype=object), y=np.array([0, 1]))
    with pytest.raises(DataError, match=str(s)):
        read_file(str(s), _cfg(s))
    t = tmp_path / "len.npz"
    np.savez(t, x=np.ones((3, 2)), y=np.array([0, 1]))
    with pytest.raises(DataError, match="3 rows"):
        read_file(str(t), _cfg(t))


def test_compressed_csv(tmp_path):
    import gzip

    p = tmp_path / "d.csv.gz"
    p.write_bytes(gzip.compress(b"text,label\nhi,1\n"))
    assert read_file(str(p), _cfg(p)).inputs == ["hi"]
    (tmp_path / "x.json").write_text(json.dumps({}))


def test_readers_registry_keyed_by_data_format():
    from tunesmith.config.data import DATA_FORMATS
    from tunesmith.engine.data.images import read_image_folder
    from tunesmith.engine.data.readers import READERS, read_csv, read_npz, read_tsv

    assert list(READERS) == [f for f in DATA_FORMATS if f not in ("auto", "builtin")]
    assert READERS["csv"] is read_csv and READERS["tsv"] is read_tsv
    assert READERS["npz"] is read_npz and READERS["image_folder"] is read_image_folder
    with pytest.raises(ConfigError, match=r"^data.format: unknown data format 'xlsx'; known: csv"):
        READERS.lookup("xlsx", "data.format")


def test_read_file_dispatches_through_the_registry(tmp_path, monkeypatch):
    from tunesmith.engine.data import readers

    seen = []
    fake = readers.Registry("data format", {**readers.READERS, "tsv": lambda p, c: seen.append(p)})
    monkeypatch.setattr(readers, "READERS", fake)
    p = tmp_path / "d.txt"
    p.write_text("text\tlabel\nhi\t1\n")
    readers.read_file(str(p), _cfg(p, format="tsv"))  # explicit format beats the extension
    assert seen == [p]


def test_explicit_format_reads_any_extension_and_builtin_reads_no_file(tmp_path):
    p = tmp_path / "d.txt"
    p.write_text("text\tlabel\nhi\t1\nho\t0\n")
    assert read_file(str(p), _cfg(p, format="tsv")).inputs == ["hi", "ho"]
    cfg = DataConfig(builtin="digits")
    with pytest.raises(DataError, match=r"data.format 'builtin' cannot read files"):
        read_file(str(p), cfg)


def test_a_bare_carriage_return_in_an_unquoted_field_is_named_as_the_likely_cause(tmp_path):
    p = tmp_path / "cr.csv"
    p.write_bytes(b"text,label\nfine,1\nbroken\rin two,0\nok,1\n")
    with pytest.raises(DataError) as info:
        read_file(str(p), _cfg(p))
    msg = str(info.value)
    assert "row 2 (line 3) has 1 fields" in msg
    assert "likely cause" in msg and "1 bare carriage return" in msg and "quote" in msg
    q = tmp_path / "quoted.csv"  # quoted, the same text reads fine
    q.write_bytes(b'text,label\nfine,1\n"broken\rin two",0\n')
    assert read_file(str(q), _cfg(q)).inputs == ["fine", "broken\rin two"]
    r = tmp_path / "ragged.csv"  # no bare carriage return: no such hint
    r.write_bytes(b"text,label\na,1\r\nb,1,extra\r\n")
    with pytest.raises(DataError) as info:
        read_file(str(r), _cfg(r))
    assert "ragged row" in str(info.value) and "likely cause" not in str(info.value)
