"""The emotion network: a small VGG-style CNN on 48x48 grey faces, pixels in [0, 255]."""
import torch
from torch import nn

from .data import CLASSES


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class EmotionNet(nn.Module):
    """Four conv blocks (48 -> 3 px), one hidden layer, 7 logits; normalises raw pixels itself."""

    def __init__(self, widths=(32, 64, 128, 256), hidden=256, dropout=0.4):
        super().__init__()
        layers, cin = [], 1
        for w in widths:
            layers.append(_block(cin, w))
            cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin * 3 * 3, hidden), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(hidden, len(CLASSES)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The exported model takes raw grey pixels so that callers need no normalisation contract.
        return self.head(self.features((x - 127.5) / 64.0))
