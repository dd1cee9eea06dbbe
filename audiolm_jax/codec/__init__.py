"""A lossless codec of 8-bit audio codes from any trained model (docs/design.md,
"The codec"): `compress`, `decompress`, `read_header`; the CLI is `__main__.py`."""

from audiolm_jax.codec.compression import compress, decompress, read_header
from audiolm_jax.codec.container import CodecFileError

__all__ = ["compress", "decompress", "read_header", "CodecFileError"]
