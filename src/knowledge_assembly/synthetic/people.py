"""Sample synthetic people with UPAR attributes and render them as pedestrian crops.

Every attribute is visible in the picture (hair, sleeves, colours, skirt, bags,
glasses, hat), identities differ in exact colour shades and body shape, and a
:class:`Style` shifts colour, light, noise and background per camera or dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..formats.upar import UPAR_ATTRIBUTES

COLOURS = {
    "Black": (25, 25, 28),
    "Blue": (35, 70, 200),
    "Brown": (115, 70, 35),
    "Green": (35, 145, 50),
    "Grey": (128, 128, 128),
    "Orange": (245, 140, 25),
    "Pink": (245, 150, 190),
    "Purple": (115, 40, 160),
    "Red": (205, 30, 30),
    "White": (235, 235, 235),
    "Yellow": (235, 215, 35),
}
COLOUR_NAMES = (*COLOURS, "Other")
SKIN_TONES = ((240, 200, 170), (200, 150, 110), (150, 100, 70), (95, 65, 45))
HAIR_TONES = ((30, 22, 18), (90, 60, 30), (160, 120, 60))
INDEX = {name: i for i, name in enumerate(UPAR_ATTRIBUTES)}


@dataclass(frozen=True)
class Person:
    """One identity: its 40 UPAR labels and what is needed to draw it."""

    attributes: np.ndarray
    upper: tuple[int, int, int]
    lower: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    gear: tuple[int, int, int]
    height: float
    build: float

    def has(self, name: str) -> bool:
        return bool(self.attributes[INDEX[name]])


@dataclass(frozen=True)
class Style:
    """Camera / dataset appearance: colour gain, light, noise, blur, background."""

    gain: tuple[float, float, float]
    brightness: float
    noise: float
    blur: float
    background: tuple[int, int, int]
    clutter: float
    quality: int


def _shade(rng: np.random.Generator, name: str, spread: int = 28) -> tuple[int, int, int]:
    base = np.array(COLOURS[name]) if name != "Other" else rng.integers(40, 220, 3)
    return tuple(int(v) for v in np.clip(base + rng.integers(-spread, spread + 1, 3), 0, 255))


def sample_person(rng: np.random.Generator) -> Person:
    """Draw one identity with consistent, one-hot-where-exclusive attributes."""
    labels = np.zeros(len(UPAR_ATTRIBUTES), dtype=np.uint8)

    def on(name: str) -> None:
        labels[INDEX[name]] = 1

    age = rng.choice(["Young", "Adult", "Old"], p=[0.2, 0.62, 0.18])
    on(f"Age-{age}")
    female = rng.random() < 0.45
    if female:
        on("Gender-Female")
    hair = rng.choice(["Short", "Long", "Bald"], p=[0.3, 0.7, 0.0] if female else [0.8, 0.08, 0.12])
    on(f"Hair-Length-{hair}")
    if rng.random() < 0.4:
        on("UpperBody-Length-Short")
    upper_name = str(rng.choice(COLOUR_NAMES))
    on(f"UpperBody-Color-{upper_name}")
    skirt = female and rng.random() < 0.5
    on("LowerBody-Type-Skirt&Dress" if skirt else "LowerBody-Type-Trousers&Shorts")
    if rng.random() < (0.45 if skirt else 0.2):
        on("LowerBody-Length-Short")
    lower_name = str(rng.choice([c for c in COLOUR_NAMES if c != upper_name]))
    on(f"LowerBody-Color-{lower_name}")
    for name, p in (("Accessory-Backpack", 0.25), ("Accessory-Bag", 0.25), ("Accessory-Hat", 0.15)):
        if rng.random() < p:
            on(name)
    glasses = rng.choice(["", "Normal", "Sun"], p=[0.72, 0.16, 0.12])
    if glasses:
        on(f"Accessory-Glasses-{glasses}")
    hair_rgb = (205, 205, 200) if age == "Old" else HAIR_TONES[rng.integers(len(HAIR_TONES))]
    return Person(
        attributes=labels,
        upper=_shade(rng, upper_name),
        lower=_shade(rng, lower_name),
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))],
        hair=tuple(int(v) for v in hair_rgb),
        gear=tuple(int(v) for v in rng.integers(20, 200, 3)),
        height=float(rng.uniform(0.70, 0.80) if age == "Young" else rng.uniform(0.86, 1.0)),
        build=float(rng.uniform(0.85, 1.15) * (0.9 if female else 1.0)),
    )


def sample_style(rng: np.random.Generator, dataset: str) -> Style:
    """A camera (``market``, ``campus``, ``night``) or scene (``pa100k``, ``peta``, ``rapv2``) look; the datasets
    differ on purpose."""
    if dataset == "night":  # a team's night cameras: dim, nearly colourless (IR-like), noisy
        grey = float(rng.uniform(0.4, 0.55))
        background = rng.integers(20, 70, 3)
        return Style(
            tuple(grey * np.array(rng.uniform(0.9, 1.1, 3))),
            float(rng.uniform(-30, -10)),
            float(rng.uniform(6, 12)),
            float(rng.uniform(0.4, 1.0)),
            tuple(int(v) for v in background),
            0.4,
            int(rng.integers(60, 80)),
        )
    if dataset == "peta":  # PETA: mixed, low-resolution archive cameras, cold and washed-out, heavily blurred
        background = rng.integers(60, 200, 3)
        return Style(
            tuple(rng.uniform(0.75, 1.0, 3) * np.array([0.9, 1.0, 1.15])),
            float(rng.uniform(-10, 35)),
            float(rng.uniform(2, 6)),
            float(rng.uniform(0.6, 1.4)),
            tuple(int(v) for v in background),
            0.3,
            100,
        )
    if dataset == "rapv2":  # RAPv2: indoor shopping-mall cameras, warm artificial light, tiled floors, soft focus
        background = rng.integers(120, 210, 3) * np.array([1.0, 0.9, 0.7])
        return Style(
            tuple(rng.uniform(0.85, 1.05, 3) * np.array([1.15, 1.0, 0.8])),
            float(rng.uniform(5, 25)),
            float(rng.uniform(2, 5)),
            float(rng.uniform(0.5, 1.2)),
            tuple(int(v) for v in background),
            0.8,
            100,
        )
    if dataset == "campus":  # a second reID dataset: outdoor campus cameras in winter, cold bright light, sharp
        background = rng.integers(140, 220, 3) * np.array([0.85, 0.95, 1.0])
        return Style(
            tuple(rng.uniform(0.9, 1.1, 3) * np.array([0.9, 1.0, 1.1])),
            float(rng.uniform(10, 35)),
            float(rng.uniform(1, 4)),
            float(rng.uniform(0.0, 0.4)),
            tuple(int(v) for v in background),
            0.6,
            int(rng.integers(85, 95)),
        )
    if dataset == "market":
        background = rng.integers(70, 150, 3)
        return Style(
            tuple(rng.uniform(0.8, 1.2, 3)),
            float(rng.uniform(-25, 15)),
            float(rng.uniform(3, 9)),
            float(rng.uniform(0.0, 0.6)),
            tuple(int(v) for v in background),
            0.5,
            int(rng.integers(75, 95)),
        )
    background = rng.integers(110, 230, 3)
    return Style(
        tuple(rng.uniform(0.9, 1.1, 3)),
        float(rng.uniform(0, 30)),
        float(rng.uniform(1, 4)),
        float(rng.uniform(0.3, 1.0)),
        tuple(int(v) for v in background),
        1.0,
        int(rng.integers(85, 98)),
    )


def _contrast(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Stripe colour for a multi-coloured ("Other") garment."""
    return (20, 20, 20) if sum(colour) > 3 * 128 else (235, 235, 235)


def _background(draw: ImageDraw.ImageDraw, size: tuple[int, int], style: Style, rng: np.random.Generator) -> None:
    width, height = size
    base = np.array(style.background)
    for y in range(0, height, 4):
        tone = tuple(int(v) for v in np.clip(base * (0.8 + 0.35 * y / height), 0, 255))
        draw.rectangle([0, y, width, y + 4], fill=tone)
    for _ in range(int(rng.poisson(4 * style.clutter))):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(4, width // 2), rng.integers(4, height // 3)
        tone = tuple(int(v) for v in np.clip(base + rng.integers(-50, 50, 3), 0, 255))
        draw.rectangle([x0, y0, x0 + w, y0 + h], fill=tone)


def _figure(draw: ImageDraw.ImageDraw, p: Person, cx: float, feet: float, body: float) -> None:
    """Draw the person centred at ``cx`` with feet at ``feet`` and height ``body`` (pixels)."""

    def y(frac: float) -> float:
        return feet - body * (1.0 - frac)

    half = 0.15 * body * p.build
    head = 0.065 * body * (1.15 if p.has("Age-Young") else 1.0)
    leg = 0.06 * body * p.build
    skirt, short_low = p.has("LowerBody-Type-Skirt&Dress"), p.has("LowerBody-Length-Short")
    # legs and shoes
    for side in (-1, 1):
        x0 = cx + side * (0.5 * half) - leg
        draw.rectangle([x0, y(0.50), x0 + 2 * leg, y(0.95)], fill=p.skin if skirt else p.lower)
        if short_low and not skirt:
            draw.rectangle([x0, y(0.68), x0 + 2 * leg, y(0.95)], fill=p.skin)
        draw.rectangle([x0 - 1, y(0.95), x0 + 2 * leg + 1, feet], fill=(30, 28, 26))
    if skirt:
        hem = y(0.70 if short_low else 0.86)
        draw.polygon(
            [(cx - half, y(0.50)), (cx + half, y(0.50)), (cx + 1.5 * half, hem), (cx - 1.5 * half, hem)], fill=p.lower
        )
    if p.has("LowerBody-Color-Other"):
        for frac in np.arange(0.53, 0.68, 0.05):
            draw.rectangle([cx - 1.2 * half, y(frac), cx + 1.2 * half, y(frac + 0.02)], fill=_contrast(p.lower))
    hy = y(0.085)
    if p.has("Hair-Length-Long"):  # behind the shoulders, visible beside the neck
        draw.rectangle([cx - 1.3 * head, hy - 0.4 * head, cx + 1.3 * head, y(0.30)], fill=p.hair)
    # backpack behind the torso, sticking out on the left
    if p.has("Accessory-Backpack"):
        draw.rectangle([cx - half - 0.17 * body, y(0.19), cx - 0.2 * half, y(0.45)], fill=p.gear)
    # arms, sleeves, torso
    arm = 0.045 * body
    for side in (-1, 1):
        x0 = cx + side * (half + arm) - arm
        draw.rectangle([x0, y(0.17), x0 + 2 * arm, y(0.52)], fill=p.upper)
        if p.has("UpperBody-Length-Short"):
            draw.rectangle([x0, y(0.30), x0 + 2 * arm, y(0.52)], fill=p.skin)
    draw.rectangle([cx - half, y(0.16), cx + half, y(0.51)], fill=p.upper)
    if p.has("UpperBody-Color-Other"):
        for frac in np.arange(0.20, 0.50, 0.06):
            draw.rectangle([cx - half, y(frac), cx + half, y(frac + 0.025)], fill=_contrast(p.upper))
    if p.has("Accessory-Backpack"):
        for side in (-1, 1):
            draw.line([cx + side * 0.6 * half, y(0.17), cx + side * 0.6 * half, y(0.40)], fill=(20, 20, 20), width=3)
    if p.has("Accessory-Bag"):
        draw.line([cx - half, y(0.17), cx + half + arm, y(0.45)], fill=(20, 20, 20), width=4)
        draw.rectangle([cx + half + arm, y(0.42), cx + half + arm + 0.1 * body, y(0.56)], fill=p.gear)
    # neck, head, hair, hat, glasses
    draw.rectangle([cx - 0.4 * head, hy, cx + 0.4 * head, y(0.17)], fill=p.skin)
    draw.ellipse([cx - head, hy - head, cx + head, hy + head], fill=p.skin)
    if p.has("Hair-Length-Short") or p.has("Hair-Length-Long"):
        draw.chord([cx - 1.1 * head, hy - 1.15 * head, cx + 1.1 * head, hy + 0.6 * head], 180, 360, fill=p.hair)
    if p.has("Accessory-Hat"):
        draw.rectangle([cx - 0.95 * head, hy - 1.6 * head, cx + 0.95 * head, hy - 0.45 * head], fill=p.gear)
        draw.rectangle([cx - 1.5 * head, hy - 0.6 * head, cx + 1.5 * head, hy - 0.35 * head], fill=p.gear)
    eye = hy - 0.05 * head
    if p.has("Accessory-Glasses-Sun"):
        draw.rectangle([cx - 0.85 * head, eye - 0.25 * head, cx + 0.85 * head, eye + 0.25 * head], fill=(5, 5, 8))
    elif p.has("Accessory-Glasses-Normal"):
        for side in (-1, 1):
            draw.rectangle(
                [
                    cx + side * 0.45 * head - 0.35 * head,
                    eye - 0.22 * head,
                    cx + side * 0.45 * head + 0.35 * head,
                    eye + 0.22 * head,
                ],
                outline=(15, 15, 20),
                width=3,
            )


def render(
    person: Person | None, style: Style, rng: np.random.Generator, size: tuple[int, int] = (64, 128), crop: float = 1.0
) -> np.ndarray:
    """Render an ``(H, W, 3)`` uint8 crop; ``person=None`` gives background only.

    ``crop`` < 1 shows only the top part of the person, like a bad detection.
    """
    scale = 2
    width, height = size[0] * scale, size[1] * scale
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    _background(draw, (width, height), style, rng)
    if person is not None:
        body = height * 0.92 * person.height * rng.uniform(0.95, 1.05) / crop
        feet = height * rng.uniform(0.96, 0.99) + body * (1 - crop)
        cx = width / 2 + rng.uniform(-0.06, 0.06) * width
        _figure(draw, person, cx, feet, body)
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = image.resize(size, Image.Resampling.BILINEAR)
    if style.blur > 0.05:
        image = image.filter(ImageFilter.GaussianBlur(style.blur))
    pixels = np.asarray(image, dtype=np.float32) * np.array(style.gain, dtype=np.float32) + style.brightness
    pixels += rng.normal(0.0, style.noise, pixels.shape).astype(np.float32)
    return np.clip(pixels, 0, 255).astype(np.uint8)
