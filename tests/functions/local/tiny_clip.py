"""A tiny randomly initialised CLIP, built from configs (no download).

The real architecture at toy sizes (16-wide, one layer, 8-d projection, 32x32 images) and a
byte-level BPE tokenizer over a vocabulary written here; saved with ``save_pretrained`` so
it loads through the same ``from_pretrained`` path as a downloaded checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.functions.local.tiny import byte_alphabet

BOS, EOS = '<|startoftext|>', '<|endoftext|>'


def build_tiny_clip(folder: Path) -> Path:
    """Build the tiny model and its processor into ``folder``; return ``folder``."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessorPil,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    src = folder.parent / f'{folder.name}-tokenizer-src'
    src.mkdir(parents=True, exist_ok=True)
    alphabet = byte_alphabet()
    vocab = {ch: i for i, ch in enumerate([*alphabet, *(c + '</w>' for c in alphabet)])}
    for token in (BOS, EOS):
        vocab[token] = len(vocab)
    (src / 'vocab.json').write_text(json.dumps(vocab))
    (src / 'merges.txt').write_text('#version: 0.2\n')  # no merges: one token per byte
    tokenizer = CLIPTokenizer(str(src / 'vocab.json'), str(src / 'merges.txt'))
    images = CLIPImageProcessorPil(  # the default one needs torchvision
        size={'shortest_edge': 32}, crop_size={'height': 32, 'width': 32}
    )
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={
            'vocab_size': len(vocab),
            'hidden_size': 16,
            'intermediate_size': 32,
            'num_hidden_layers': 1,
            'num_attention_heads': 2,
            'max_position_embeddings': 64,
            'bos_token_id': vocab[BOS],
            'eos_token_id': vocab[EOS],
            'pad_token_id': vocab[EOS],
        },
        vision_config={
            'hidden_size': 16,
            'intermediate_size': 32,
            'num_hidden_layers': 1,
            'num_attention_heads': 2,
            'image_size': 32,
            'patch_size': 8,
        },
        projection_dim=8,
    )
    CLIPModel(config).save_pretrained(folder)
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder
