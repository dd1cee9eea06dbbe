"""audiolm_jax: Verma's million-sample-context raw-audio language model in JAX/Flax."""

from audiolm_jax.model import AudioLM, count_params, init_params
from audiolm_jax.model_config import PRESETS, ModelConfig, get_model_config

__all__ = ["AudioLM", "ModelConfig", "PRESETS", "count_params", "get_model_config",
           "init_params"]
__version__ = "0.1.0"
