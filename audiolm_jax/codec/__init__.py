"""A lossless codec of 16-bit PCM and of 8-bit audio codes from any trained model,
mixed online with linear prediction (docs/design.md, "The codec"): `compress_pcm`,
`compress`, `decompress`, `decode_into`, `read_header`; the CLI is `__main__.py`."""

from audiolm_jax.codec.compression import (compress, compress_pcm, decode_into,
                                           decompress, read_header)
from audiolm_jax.codec.container import CodecFileError
from audiolm_jax.codec.mixing import Mixing

__all__ = ["compress", "compress_pcm", "decompress", "decode_into", "read_header",
           "CodecFileError", "Mixing"]
