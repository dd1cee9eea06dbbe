"""Evaluation: the NLL protocols (`protocols`) and the reference predictors (`references`)."""
