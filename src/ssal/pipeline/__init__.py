"""What a run does with a config: train a detector, predict, evaluate (and, stage by stage, the S-SSAL pipeline)."""
