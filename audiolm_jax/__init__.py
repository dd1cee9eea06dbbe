"""audiolm_jax: Verma's million-sample-context raw-audio language model in JAX/Flax."""

# Before anything starts a JAX backend: libtpu (the `tpu` extra) stays quiet on a
# machine without TPUs (aot/libtpu.py).
from audiolm_jax.aot import libtpu as _libtpu

_libtpu.quiet_without_tpu()

# pylint: disable=wrong-import-position

from audiolm_jax.models import AudioModel, build, from_fields
from audiolm_jax.models.cnn_transformer_config import (PRESETS, CNNTransformerConfig,
                                                       get_model_config)
from audiolm_jax.models.cnn_transformer_module import CNNTransformerModule, init_params
from audiolm_jax.models.interface import count_params

__all__ = ["AudioModel", "CNNTransformerConfig", "CNNTransformerModule", "PRESETS",
           "build", "count_params", "from_fields", "get_model_config", "init_params"]
__version__ = "0.1.0"
