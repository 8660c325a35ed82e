"""Datasets: file formats, readers, the Frame record, and the synthetic world."""
