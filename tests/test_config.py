"""Typed config: YAML with _base_ inheritance and --set overrides; every mistake names key, file and expectation."""

import textwrap

import pytest

from ssal.config import Config, config_fingerprint, load_config
from ssal.errors import SsalError


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture()
def configs(tmp_path):
    write(tmp_path / "base.yaml", """
        train:
          epochs: 3
        data:
          root: data/kitti
          classes: [Car, Pedestrian, Cyclist]
    """)
    write(tmp_path / "child.yaml", """
        _base_: base.yaml
        data:
          fov_crop: false
    """)
    return tmp_path


def test_base_values_are_inherited_and_merged_key_by_key(configs):
    config = load_config(configs / "child.yaml")
    assert isinstance(config, Config)
    assert config.train.epochs == 3
    assert config.data.root == "data/kitti" and config.data.fov_crop is False
    assert config.data.classes == ["Car", "Pedestrian", "Cyclist"]


def test_overrides_parse_values_as_yaml(configs):
    config = load_config(configs / "child.yaml", ["train.epochs=7", "data.root=/x", "augment.flip_x=false"])
    assert (config.train.epochs, config.data.root, config.augment.flip_x) == (7, "/x", False)


def test_misspelt_key_names_the_file_and_suggests_the_right_key(configs):
    write(configs / "typo.yaml", """
        _base_: base.yaml
        data:
          clases: [Car]
    """)
    with pytest.raises(SsalError) as error:
        load_config(configs / "typo.yaml")
    message = str(error.value)
    assert message.startswith(str(configs / "typo.yaml"))
    assert "unknown key 'data.clases'" in message and "did you mean 'data.classes'" in message


def test_wrong_type_names_key_and_expectation(configs):
    write(configs / "wrong.yaml", "train:\n  epochs: three\n")
    with pytest.raises(SsalError, match=r"wrong\.yaml: train\.epochs: expected an integer, got str 'three'"):
        load_config(configs / "wrong.yaml")


def test_wrong_type_from_a_base_file_names_the_base(configs):
    write(configs / "base.yaml", "data:\n  root: 5\n")
    with pytest.raises(SsalError, match=r"base\.yaml: data\.root: expected a string, got int 5"):
        load_config(configs / "child.yaml")


def test_sections_must_agree_on_the_classes(configs):
    with pytest.raises(SsalError, match=r"child\.yaml: model\.class_names: \[.*\] must equal data\.classes \['Car'\]"):
        load_config(configs / "child.yaml", ["data.classes=[Car]"])


def test_a_section_validation_names_its_key(configs):
    with pytest.raises(SsalError, match=r"child\.yaml: model\.voxel_size: the x extent .* is not a multiple"):
        write(configs / "child.yaml", "_base_: base.yaml\nmodel:\n  voxel_size: [0.3, 0.16, 4]\n")
        load_config(configs / "child.yaml")


def test_validation_failure_names_the_override(configs):
    with pytest.raises(SsalError, match=r"--set data\.classes=\[\]: data\.classes: at least one class is needed"):
        load_config(configs / "child.yaml", ["data.classes=[]"])


def test_missing_config_and_missing_base(configs):
    with pytest.raises(SsalError, match=r"nope\.yaml: config file not found"):
        load_config(configs / "nope.yaml")
    write(configs / "orphan.yaml", "_base_: gone.yaml\n")
    with pytest.raises(SsalError, match=r"orphan\.yaml: config file .*gone\.yaml not found"):
        load_config(configs / "orphan.yaml")


def test_invalid_yaml_gives_the_line(configs):
    write(configs / "broken.yaml", "seed: 1\ndata: [unclosed\n")
    with pytest.raises(SsalError, match=r"broken\.yaml: invalid YAML at line \d+"):
        load_config(configs / "broken.yaml")


def test_inheritance_loop_is_an_error(configs):
    write(configs / "a.yaml", "_base_: b.yaml\n")
    write(configs / "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(SsalError, match="_base_ inheritance loops"):
        load_config(configs / "a.yaml")


def test_fingerprint_changes_with_any_value(configs):
    a = load_config(configs / "child.yaml")
    b = load_config(configs / "child.yaml", ["train.seed=4"])
    assert config_fingerprint(a) == config_fingerprint(load_config(configs / "child.yaml"))
    assert config_fingerprint(a) != config_fingerprint(b)


def test_a_missing_dataset_folder_names_the_key_and_the_file_that_set_it(configs):
    from ssal.data.datasets import dataset_from_config

    config = load_config(configs / "child.yaml")  # data.root comes from base.yaml
    with pytest.raises(SsalError, match=r"base\.yaml: data\.root: data/kitti is not a folder"):
        dataset_from_config(config.data)
    config = load_config(configs / "child.yaml", [f"data.root={configs / 'nowhere'}"])
    with pytest.raises(SsalError, match=r"--set data\.root=.*nowhere: data\.root: .*nowhere is not a folder"):
        dataset_from_config(config.data)
