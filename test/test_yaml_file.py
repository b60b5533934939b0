"""s3prl.util.yaml_file.read_yaml_mapping: the shared yaml config reader."""

from __future__ import annotations

import pytest

from s3prl.util.yaml_file import read_yaml_mapping


def test_reads_mapping_and_copies_a_given_one(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\nb: {c: [2, 3]}\n", encoding="utf-8")
    assert read_yaml_mapping(path) == {"a": 1, "b": {"c": [2, 3]}}
    given = {"x": 1}
    out = read_yaml_mapping(given)
    assert out == given and out is not given


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"my config not found: .*nope\.yaml"):
        read_yaml_mapping(tmp_path / "nope.yaml", "my config")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"cannot parse the my config .*bad\.yaml"):
        read_yaml_mapping(bad, "my config")
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"list\.yaml must hold a yaml mapping, got list"):
        read_yaml_mapping(listed, "my config")
    with pytest.raises(TypeError, match="model_config must be a yaml path or a mapping, got int"):
        read_yaml_mapping(3, arg="model_config")
