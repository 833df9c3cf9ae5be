"""The Burgess et al. (2018) convolutional encoder/decoder, in PyTorch.

Imported only when a model is built (never at plugin discovery): it imports torch.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Encoder", "Decoder", "VAENet"]


class Encoder(nn.Module):
    """Four 4x4 stride-2 convolutions (32, 32, 64, 64) with ReLU, FC 256, then 2K outputs.

    Parameters
    ----------
    channels
        Image channels (1 grayscale, 3 RGB).
    latents
        K, the number of latent units; the head outputs K means and K log-variances.
    size
        Input side length in pixels; must be a multiple of 16 (64 by default).
    """

    def __init__(self, channels: int, latents: int, size: int = 64):
        super().__init__()
        side = size // 16
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 4, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * side * side, 256),
            nn.ReLU(),
        )
        self.head = nn.Linear(256, 2 * latents)
        self.latents = latents

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return posterior means and log-variances, each (n, K)."""
        h = self.head(self.conv(x))
        return h[:, : self.latents], h[:, self.latents :]


class Decoder(nn.Module):
    """The encoder mirrored: FC 256, FC 64*s*s, four 4x4 stride-2 transposed convolutions.

    Returns logits (n, C, size, size); ``sigmoid`` gives pixel intensities in [0, 1].
    """

    def __init__(self, channels: int, latents: int, size: int = 64):
        super().__init__()
        self.side = size // 16
        self.fc = nn.Sequential(
            nn.Linear(latents, 256),
            nn.ReLU(),
            nn.Linear(256, 64 * self.side * self.side),
            nn.ReLU(),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map latents (n, K) to image logits (n, C, size, size)."""
        h = self.fc(z).view(z.shape[0], 64, self.side, self.side)
        return self.deconv(h)


class VAENet(nn.Module):
    """Encoder and decoder together (one state dict for safetensors)."""

    def __init__(self, channels: int, latents: int, size: int = 64):
        super().__init__()
        self.encoder = Encoder(channels, latents, size)
        self.decoder = Decoder(channels, latents, size)
