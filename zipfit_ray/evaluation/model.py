"""The learner: a small byte-level causal transformer, trained from scratch on each
selection. Bytes are its tokens (no tokenizer to download or to favour one selection), and
one more token marks where a text starts, so texts are never read as one run-on text."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from zipfit_ray.evaluation.settings import ModelSettings

TEXT_START = 256  # the token before every text; bytes are 0..255
VOCABULARY = 257
INITIAL_STD = 0.02  # of every weight matrix and embedding (GPT-2's): logits start near uniform


class Block(nn.Module):
    """Pre-norm attention (causal) and a 4x MLP, each added to the residual stream."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.projection = nn.Linear(width, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).split(width, dim=2)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        attended = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.projection(attended.transpose(1, 2).reshape(batch, length, width))
        return x + self.mlp(self.mlp_norm(x))


class ByteTransformer(nn.Module):
    """Token and learned position embeddings, ``layers`` blocks, a final norm, and an output
    layer over the 257 tokens (its weights tied to the token embedding)."""

    def __init__(self, settings: ModelSettings) -> None:
        super().__init__()
        self.tokens = nn.Embedding(VOCABULARY, settings.width)
        self.positions = nn.Embedding(settings.context, settings.width)
        self.blocks = nn.ModuleList(
            Block(settings.width, settings.heads) for _ in range(settings.layers)
        )
        self.norm = nn.LayerNorm(settings.width)
        self.output = nn.Linear(settings.width, VOCABULARY, bias=False)
        self.output.weight = self.tokens.weight
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=INITIAL_STD)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits of the next token at every position of ``tokens`` (batch, length)."""
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.tokens(tokens) + self.positions(positions)
        for block in self.blocks:
            x = block(x)
        return self.output(self.norm(x))
