"""KITTI label and result files: read, write, read again."""

import numpy as np

from ssal.data.kitti_label import format_label_lines, parse_label_text, read_label_file


def test_label_file_round_trips(kitti_sample):
    labels = read_label_file(kitti_sample / "training/label_2/000001.txt")
    again = parse_label_text(format_label_lines(labels), "written")
    assert list(again.name) == list(labels.name) == ["Truck", "Car", "Cyclist"] + ["DontCare"] * 4
    np.testing.assert_allclose(again.dimensions, labels.dimensions)
    np.testing.assert_allclose(again.location, labels.location)
    assert labels.score is None


def test_dimensions_are_stored_length_height_width():
    labels = parse_label_text("Car 0.00 0 1.85 387.63 181.54 423.81 203.12 1.67 1.87 3.69 -16.53 2.39 58.49 1.57\n",
                              "label")
    np.testing.assert_allclose(labels.dimensions[0], [3.69, 1.67, 1.87])  # file: h w l


def test_result_files_carry_scores_even_when_empty():
    assert parse_label_text("", "000000.txt", with_score=True).score.shape == (0,)
    result = parse_label_text("Car 0 0 0.1 10 10 50 50 1.5 1.6 3.9 1 1.7 20 0.1 0.87\n", "000001.txt", with_score=True)
    assert result.score.tolist() == [0.87]
