"""Generation: the family-independent sampler (`sampler`) and pictures (`plots`)."""
