"""Studio photos moved into everyday scenes: the item cut out of its plain background and laid on
another one, other items beside it, a hand-coloured shape over an edge, uneven light.

TrashNet photographs every item on the same white board; a model trained on those alone learns
the board as much as the item, and a can on a kitchen table looks like nothing it knows. The cut
is a soft mask (how far each pixel is from the board's colour), so a clear bottle's body lets the
new background through, as glass does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)

BORDER_SHARE = 0.04  # the strip along the edges that shows the board
MASK_LOW, MASK_HIGH = 0.08, 0.22  # colour distance from the board: transparent below, opaque above
SKIN_TONES = ((224, 172, 142), (198, 134, 99), (141, 85, 54), (238, 198, 170), (110, 70, 45))


def studio_mask(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) photos on a plain board → uint8 (N, 1, H, W) opacity of the item."""
    pixels = images.float() / 255.0
    n, _, height, width = pixels.shape
    band_h = max(1, round(height * BORDER_SHARE))
    band_w = max(1, round(width * BORDER_SHARE))
    border = torch.cat(
        [
            pixels[:, :, :band_h].flatten(2),
            pixels[:, :, -band_h:].flatten(2),
            pixels[:, :, :, :band_w].flatten(2),
            pixels[:, :, :, -band_w:].flatten(2),
        ],
        dim=2,
    )
    board = border.median(dim=2).values.view(n, 3, 1, 1)
    smooth = F.avg_pool2d(pixels, 5, 1, 2, count_include_pad=False)
    distance = (smooth - board).abs().amax(dim=1, keepdim=True)
    mask = ((distance - MASK_LOW) / (MASK_HIGH - MASK_LOW)).clamp(0.0, 1.0)
    # Close small holes (a label's white print), then drop specks of dust on the board.
    mask = -F.max_pool2d(-F.max_pool2d(mask, 9, 1, 4), 9, 1, 4)
    mask = F.max_pool2d(-F.max_pool2d(-mask, 5, 1, 2), 5, 1, 2)
    mask = F.avg_pool2d(mask, 3, 1, 1, count_include_pad=False)
    return (mask * 255).round().to(torch.uint8)


def random_backgrounds(
    count: int, size: int, library: torch.Tensor | None, generator: torch.Generator
) -> torch.Tensor:
    """float (count, 3, size, size) in [0, 1]: crops of the library's photos and textures where
    there is one, the rest made up (flat colours under a gradient of light, with grain)."""
    made = _made_up_backgrounds(count, size, generator)
    if library is None or len(library) == 0:
        return made
    chosen = torch.randint(0, len(library), (count,), generator=generator)
    from_library = _random_crops(library[chosen].float() / 255.0, size, generator)
    use_library = (torch.rand(count, generator=generator) < 0.7).view(count, 1, 1, 1)
    return torch.where(use_library, from_library, made)


def _made_up_backgrounds(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    base = torch.rand(count, 3, 1, 1, generator=generator)
    grey = base.mean(dim=1, keepdim=True)
    base = grey + (base - grey) * torch.rand(count, 1, 1, 1, generator=generator)  # muted mostly
    ramp = torch.linspace(-1, 1, size)
    angle = torch.rand(count, generator=generator) * 2 * torch.pi
    gradient = (
        torch.cos(angle).view(count, 1, 1) * ramp.view(1, 1, size)
        + torch.sin(angle).view(count, 1, 1) * ramp.view(1, size, 1)
    ).unsqueeze(1)
    light = 1 + gradient * 0.3 * torch.rand(count, 1, 1, 1, generator=generator)
    grain = torch.randn(count, 1, size, size, generator=generator) * 0.04
    return (base * light + grain).clamp(0.0, 1.0)


def _random_crops(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    n = images.shape[0]
    scale = 0.3 + 0.7 * torch.rand(n, generator=generator)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (1 - scale).unsqueeze(1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    return F.grid_sample(
        images, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )


def composite(
    items: torch.Tensor,
    masks: torch.Tensor,
    backgrounds: torch.Tensor,
    chance: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Each item (float, [0, 1]) laid on its background with the given chance; the others stay on
    their board. The item's colours are nudged towards the new scene's light."""
    n = items.shape[0]
    alpha = masks.float() / 255.0
    # The scene's colour cast (its mean colour over its mean grey), a third of it.
    scene_light = backgrounds.mean(dim=(2, 3), keepdim=True) + 0.05
    tint = 1 + (scene_light / scene_light.mean(dim=1, keepdim=True) - 1) * 0.3
    laid = alpha * (items * tint).clamp(0.0, 1.0) + (1 - alpha) * backgrounds
    chosen = (torch.rand(n, generator=generator) < chance).view(n, 1, 1, 1)
    return torch.where(chosen, laid, items)


def add_clutter(
    scenes: torch.Tensor,
    items: torch.Tensor,
    masks: torch.Tensor,
    chance: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Another item, smaller and partly out of the frame, behind the one the label names (its
    opacity only where the main item leaves the scene uncovered is not known here, so it is laid
    under a fresh copy of nothing: it only covers the background near an edge)."""
    n, _, size, _ = scenes.shape
    chosen = torch.rand(n, generator=generator) < chance
    if not chosen.any():
        return scenes
    others = torch.randperm(n, generator=generator)
    scale = 0.35 + 0.25 * torch.rand(n, generator=generator)
    side = torch.randint(0, 4, (n,), generator=generator)
    along = torch.rand(n, generator=generator) * 2 - 1
    # Place the other item's centre near one edge of the frame.
    offset_x = torch.where(side < 2, torch.where(side == 0, -0.85, 0.85), along * 0.8)
    offset_y = torch.where(side >= 2, torch.where(side == 2, -0.85, 0.85), along * 0.8)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1 / scale
    theta[:, 1, 1] = 1 / scale
    theta[:, 0, 2] = -offset_x / scale
    theta[:, 1, 2] = -offset_y / scale
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    moved = F.grid_sample(
        items[others], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    moved_alpha = F.grid_sample(
        masks[others].float() / 255.0,
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    cluttered = moved_alpha * moved + (1 - moved_alpha) * scenes
    return torch.where(chosen.view(n, 1, 1, 1), cluttered, scenes)


def cover_with_hand(
    scenes: torch.Tensor, chance: float, generator: torch.Generator
) -> torch.Tensor:
    """A skin-toned ellipse reaching in from an edge: the fingers holding an item up to the
    camera, which hide part of it."""
    n, _, height, width = scenes.shape
    ys = torch.linspace(-1, 1, height).view(1, height, 1)
    xs = torch.linspace(-1, 1, width).view(1, 1, width)
    centre_x = (torch.rand(n, generator=generator) * 2 - 1).view(n, 1, 1)
    centre_y = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).view(n, 1, 1)
    radius_x = (0.15 + 0.2 * torch.rand(n, generator=generator)).view(n, 1, 1)
    radius_y = (0.25 + 0.3 * torch.rand(n, generator=generator)).view(n, 1, 1)
    inside = ((xs - centre_x) / radius_x) ** 2 + ((ys - centre_y) / radius_y) ** 2 <= 1
    tones = torch.tensor(SKIN_TONES, dtype=torch.float32) / 255.0
    tone = tones[torch.randint(0, len(tones), (n,), generator=generator)].view(n, 3, 1, 1)
    shade = 0.8 + 0.3 * torch.rand(n, 1, 1, 1, generator=generator)
    chosen = (torch.rand(n, generator=generator) < chance).view(n, 1, 1)
    covered = (inside & chosen).unsqueeze(1)
    return torch.where(covered, (tone * shade).clamp(0, 1).expand_as(scenes), scenes)
