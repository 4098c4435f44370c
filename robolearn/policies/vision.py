"""Image encoders: a small CNN per camera ending in spatial-softmax keypoints (robomimic's
design, Levine et al. 2016), with DrQ's random-shift augmentation while training.

Each camera's frames (uint8, H x W x 3) go through their own conv stack; a 1x1 conv makes
`keypoints` feature maps, and a softmax over each map's pixels gives the expected image
position (x, y in [-1, 1]) of what that map responds to: 2 numbers a keypoint, so the
policy sees where things are rather than a flattened feature map. The encoders are one
module shared by every task and robot of the model, feeding the same trunks (MLP, MoE)
next to the proprioceptive state. Written in torch: torchvision's compiled ops do not load
with the local CPU torch build.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

INPUTS = ("state", "image", "image+proprio")


def check_inputs(inputs: str) -> str:
    if inputs not in INPUTS:
        raise ValueError(f"inputs={inputs!r}; allowed: {', '.join(INPUTS)}")
    return inputs


# The softmax's initial temperature. At 1 the fresh maps' small values give a near-uniform
# softmax: every keypoint sits at the image centre and barely moves with the image, so the
# encoder learns slowly. Measured (reach, BC from the front camera, 600 updates): training
# loss 0.47 at 1.0, 0.33 at 0.05 / 0.02 / 0.01 (a policy from the state: 0.33).
INITIAL_TEMPERATURE = 0.02


class SpatialSoftmax(nn.Module):
    """Feature maps (B, C, H, W) -> the expected (x, y) of each of `keypoints` maps, (B, 2K)."""

    def __init__(self, channels: int, keypoints: int):
        super().__init__()
        self.to_maps = nn.Conv2d(channels, keypoints, 1)
        # Learned sharpness, as robomimic's.
        self.log_temperature = nn.Parameter(torch.full((1,), float(np.log(INITIAL_TEMPERATURE))))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        maps = self.to_maps(features)
        b, k, h, w = maps.shape
        weights = F.softmax(maps.reshape(b, k, h * w) / self.log_temperature.exp(), dim=-1)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, device=maps.device),
                                torch.linspace(-1, 1, w, device=maps.device), indexing="ij")
        grid = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)  # (H*W, 2)
        return (weights @ grid).reshape(b, 2 * k)


class CameraEncoder(nn.Module):
    """uint8 frames (B, H, W, 3) -> keypoints (B, 2K). Three convolutions, two of them strided:
    about 6 MFLOP a frame at 84 x 84, so a CPU trains it."""

    def __init__(self, keypoints: int = 16, channels: int = 32):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(3, channels // 2, 5, stride=2), nn.ReLU(),
            nn.Conv2d(channels // 2, channels, 3, stride=2), nn.ReLU(),
            nn.Conv2d(channels, channels, 3), nn.ReLU())
        self.keypoints = SpatialSoftmax(channels, keypoints)
        self.dim = 2 * keypoints

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return self.keypoints(self.convs(x))


def random_shift(frames: torch.Tensor, pad: int) -> torch.Tensor:
    """DrQ's augmentation (Kostrikov et al. 2020): each frame (B, H, W, 3) padded by `pad`
    edge pixels and cropped back at a random offset, i.e. shifted by up to `pad` pixels."""
    if pad == 0:
        return frames
    b, h, w, _ = frames.shape
    padded = F.pad(frames.permute(0, 3, 1, 2).float(), (pad, pad, pad, pad), mode="replicate")
    rows, cols = torch.randint(0, 2 * pad + 1, (2, b)).tolist()
    # One slice per frame: 3.5x faster on the CPU than one gather over the batch (64 frames of 64 px).
    crops = [padded[i, :, r:r + h, c:c + w] for i, (r, c) in enumerate(zip(rows, cols))]
    return torch.stack(crops).permute(0, 2, 3, 1).to(frames.dtype)


class ImageEncoders(nn.Module):
    """One CameraEncoder per camera; their keypoints concatenated in the order of `cameras`."""

    def __init__(self, cameras: list[str] | tuple[str, ...], size: int, keypoints: int = 16, shift: int = 4):
        super().__init__()
        if not cameras:
            raise ValueError("inputs with images need at least one camera (cameras=[front,...])")
        self.cameras, self.size, self.shift = tuple(cameras), size, shift
        self.encoders = nn.ModuleDict({c: CameraEncoder(keypoints) for c in self.cameras})
        self.dim = sum(e.dim for e in self.encoders.values())

    def forward(self, images: dict[str, torch.Tensor], augment: bool = False) -> torch.Tensor:
        missing = [c for c in self.cameras if c not in images]
        if missing:
            raise ValueError(f"the policy sees cameras {', '.join(self.cameras)}; no frames of {', '.join(missing)}")
        parts = []
        for camera, encoder in self.encoders.items():
            frames = images[camera]
            if tuple(frames.shape[1:]) != (self.size, self.size, 3):
                raise ValueError(f"camera {camera}: frames of shape {tuple(frames.shape[1:])}; the policy was trained "
                                 f"on ({self.size}, {self.size}, 3)")
            parts.append(encoder(random_shift(frames, self.shift) if augment else frames))
        return torch.cat(parts, dim=-1)


def frames_on(device: torch.device, vision: ImageEncoders | None,
              images: dict[str, np.ndarray] | None) -> dict[str, torch.Tensor]:
    """Camera frames (B, H, W, 3) uint8 as tensors on `device`; a policy that sees cameras needs them."""
    if vision is None:
        return {}
    if images is None:
        raise ValueError(f"this policy was trained with images (cameras: {', '.join(vision.cameras)}, "
                         f"{vision.size}x{vision.size}); give it their frames")
    return {c: torch.as_tensor(np.asarray(f), device=device) for c, f in images.items()}
