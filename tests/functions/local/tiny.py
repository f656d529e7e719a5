"""A tiny randomly initialised FLUX.2 [klein] pipeline, built from configs (no download).

It has the real model's architecture and file layout at toy sizes: a Qwen3 text encoder
deep enough for the layers the pipeline reads (9, 18, 27), a Flux2 transformer and VAE,
and a byte-level BPE tokenizer over a 259-token vocabulary written here. Saved with
``save_pretrained``, it loads through the same ``DiffusionPipeline.from_pretrained`` path
as a downloaded checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIAL_TOKENS = ('<|endoftext|>', '<|im_start|>', '<|im_end|>')
CHAT_TEMPLATE = (
    '{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}'
    '{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}'
)


def byte_alphabet() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (printable ones as is)."""
    kept = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    stand_in = {b: chr(b) for b in kept}
    shifted = (b for b in range(256) if b not in stand_in)
    for i, b in enumerate(shifted):
        stand_in[b] = chr(256 + i)
    return [stand_in[b] for b in range(256)]


def build_tokenizer(folder: Path):  # -> Qwen2TokenizerFast
    from transformers import Qwen2TokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {ch: i for i, ch in enumerate(byte_alphabet())}
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    (folder / 'vocab.json').write_text(json.dumps(vocab))
    (folder / 'merges.txt').write_text('#version: 0.2\n')  # no merges: one token per byte
    tokenizer = Qwen2TokenizerFast.from_pretrained(folder)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_klein(folder: Path) -> Path:
    """Build the tiny pipeline and ``save_pretrained`` it to ``folder``; return ``folder``."""
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_tokenizer(folder.parent / f'{folder.name}-tokenizer-src')
    torch.manual_seed(0)
    hidden = 16
    text_encoder = Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=16,
            num_hidden_layers=27,  # the pipeline stacks hidden states 9, 18 and 27
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=512,
        )
    )
    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=3 * hidden,  # three stacked text-encoder layers
        timestep_guidance_channels=256,
        axes_dims_rope=[4, 4, 4, 4],
        guidance_embeds=False,
    )
    vae = AutoencoderKLFlux2(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        down_block_types=('DownEncoderBlock2D',),
        up_block_types=('UpDecoderBlock2D',),
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    pipe = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=True,  # like FLUX.2 [klein] 4B: few steps, no guidance
    )
    pipe.save_pretrained(folder)
    return folder
