"""Small models and datasets that tests share (import as ``from helpers.<module> import ...``)."""
