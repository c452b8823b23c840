"""Product-photo-like drawings for the demo catalogue, made on the machine with Pillow (no downloads).

Each picture is drawn at twice its size and halved with a box filter, which anti-aliases every edge.
Shapes are built from masks (ellipses, polygons) filled with multi-stop gradients: a polished metal
is mostly a pattern of light and dark bands, and a cut stone a mosaic of facets in a few shades.
"""

import functools
import itertools
import math
import signal
from io import BytesIO

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from .images import ProcessedImage, image_process

Color = tuple[int, int, int]
Stops = list[tuple[float, Color]]

SUPERSAMPLE = 2

# Shadow, mid, light and highlight tones for each metal (keys are catalog.models.Metal values).
METAL_TONES: dict[str, tuple[Color, Color, Color, Color]] = {
    "yellow-gold": ((128, 88, 28), (205, 158, 70), (240, 206, 122), (255, 246, 212)),
    "rose-gold": ((128, 70, 58), (206, 132, 110), (238, 184, 162), (255, 236, 226)),
    "white-gold": ((108, 112, 120), (182, 186, 194), (224, 226, 231), (255, 255, 255)),
    "silver": ((100, 106, 114), (176, 182, 190), (226, 229, 234), (255, 255, 255)),
    "platinum": ((92, 96, 106), (160, 165, 176), (208, 212, 220), (250, 251, 255)),
}

# Deep, dark, mid and light tones for each stone (keys are catalog.models.Gemstone values).
GEM_TONES: dict[str, tuple[Color, Color, Color, Color]] = {
    "diamond": ((120, 132, 150), (176, 190, 208), (222, 232, 244), (255, 255, 255)),
    "sapphire": ((10, 22, 82), (26, 52, 150), (62, 104, 214), (160, 190, 255)),
    "emerald": ((4, 58, 38), (12, 110, 70), (40, 168, 112), (150, 235, 190)),
    "ruby": ((78, 4, 22), (150, 12, 44), (212, 36, 72), (255, 150, 170)),
    "amethyst": ((52, 22, 86), (98, 48, 150), (152, 96, 208), (220, 186, 250)),
    "topaz": ((16, 76, 118), (36, 124, 180), (96, 182, 232), (196, 236, 255)),
    "opal": ((170, 176, 196), (206, 212, 226), (234, 236, 244), (255, 255, 255)),
    "pearl": ((196, 180, 160), (226, 214, 198), (246, 240, 230), (255, 255, 252)),
}

BACKGROUNDS: dict[str, tuple[Color, Color]] = {
    "cream": ((251, 247, 240), (228, 216, 198)),
    "blush": ((252, 244, 241), (232, 208, 200)),
    "sage": ((245, 247, 240), (208, 216, 200)),
    "stone": ((246, 245, 243), (214, 210, 204)),
}


# --- Gradients and masks ---------------------------------------------------------------------------


def _lerp(a: Color, b: Color, t: float) -> Color:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def _palette(stops: Stops) -> tuple[int, ...]:
    """256 RGB entries interpolated between (position 0..1, colour) stops."""
    return _palette_for(tuple(stops))


@functools.cache  # a few dozen distinct gradients, each asked for many times per picture
def _palette_for(stops: tuple[tuple[float, Color], ...]) -> tuple[int, ...]:
    out: list[int] = []
    for i in range(256):
        t = i / 255
        for (p0, c0), (p1, c1) in itertools.pairwise(stops):
            if p0 <= t <= p1:
                out.extend(_lerp(c0, c1, (t - p0) / ((p1 - p0) or 1)))
                break
        else:
            out.extend(stops[-1][1] if t > stops[-1][0] else stops[0][1])
    return tuple(out)


def gradient(size: tuple[int, int], stops: Stops, angle: float = 0) -> Image.Image:
    """An RGB linear gradient over ``size``; angle 0 runs left to right, 90 top to bottom."""
    ramp = Image.linear_gradient("L").rotate(90, expand=True).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if angle:
        ramp = ramp.rotate(-angle, resample=Image.Resampling.BILINEAR, expand=False)
        ramp = ramp.crop((64, 64, 192, 192))  # drop the corners the rotation left empty
    ramp = ramp.resize(size, Image.Resampling.BILINEAR)
    ramp.putpalette(_palette(stops))
    return ramp.convert("RGB")


def radial(size: tuple[int, int], stops: Stops, centre: tuple[float, float] = (0.5, 0.5), spread: float = 1.0):
    """An RGB radial gradient; ``centre`` in fractions of the size, ``spread`` scales the radius."""
    w, h = size
    base = Image.radial_gradient("L")  # 256x256, 0 in the centre, 255 at radius 128
    big = max(w, h) * 2 * spread
    base = base.resize((round(big), round(big)), Image.Resampling.BILINEAR)
    left = round(big / 2 - centre[0] * w)
    top = round(big / 2 - centre[1] * h)
    ramp = base.crop((left, top, left + w, top + h))
    ramp.putpalette(_palette(stops))
    return ramp.convert("RGB")


class Patch:
    """A small drawing area around ``box`` (canvas coordinates), so a tiny stone does not cost a full-size
    mask and paste: draw with canvas coordinates through ``xy``/``box``, then ``paste`` it back."""

    def __init__(self, box: tuple[float, float, float, float], pad: int = 4) -> None:
        self.x0 = math.floor(box[0]) - pad
        self.y0 = math.floor(box[1]) - pad
        self.size = (math.ceil(box[2]) + pad - self.x0, math.ceil(box[3]) + pad - self.y0)
        self.mask = Image.new("L", self.size, 0)
        self.draw = ImageDraw.Draw(self.mask)

    def xy(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x - self.x0, y - self.y0) for x, y in points]

    def box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        return (box[0] - self.x0, box[1] - self.y0, box[2] - self.x0, box[3] - self.y0)

    def paste(self, canvas: Image.Image, fill: Image.Image | Color, mask: Image.Image | None = None) -> None:
        mask = self.mask if mask is None else mask
        box = mask.getbbox()  # blend only where the mask is not empty: the same pixels, less work
        if box is None:
            return
        if isinstance(fill, Image.Image):
            fill = fill.crop(box)
        canvas.paste(fill, (self.x0 + box[0], self.y0 + box[1]), mask.crop(box))

    def metal(self, canvas: Image.Image, metal: str, *, angle: float = 30, style: str = "face") -> None:
        self.paste(canvas, gradient(self.size, metal_stops(metal, style=style), angle))


def metal_stops(metal: str, *, style: str = "band") -> Stops:
    shadow, mid, light, high = METAL_TONES[metal]
    if style == "face":  # a polished edge catches more light
        return [(0, mid), (0.25, high), (0.45, light), (0.7, mid), (0.9, light), (1, mid)]
    if style == "inner":
        return [(0, shadow), (0.35, mid), (0.55, light), (0.8, mid), (1, shadow)]
    return [(0, shadow), (0.14, mid), (0.3, high), (0.42, light), (0.62, mid), (0.82, shadow), (0.93, light), (1, mid)]


# --- Building blocks ---------------------------------------------------------------------------------


def soft_shadow(
    canvas: Image.Image, box: tuple[float, float, float, float], *, strength: float = 0.28, ring: float = 0
) -> None:
    """A blurred contact shadow under an object, drawn at an eighth of the size and scaled up (blur is slow).
    ``ring`` > 0 draws only an elliptical outline that wide, for loops lying flat (bracelets)."""
    x0, y0, x1, y1 = box
    blur = max(2.0, (x1 - x0) / 8 / (30 if ring else 14))  # in the small image's pixels
    margin = blur * 8 * 3
    patch = Patch((x0 - margin, y0 - margin, x1 + margin, y1 + margin), pad=0)
    small = Image.new("L", (max(1, patch.size[0] // 8), max(1, patch.size[1] // 8)), 0)
    shade = round(255 * strength)
    if ring:
        ImageDraw.Draw(small).ellipse([v / 8 for v in patch.box(box)], outline=shade, width=max(1, round(ring / 8)))
    else:
        ImageDraw.Draw(small).ellipse([v / 8 for v in patch.box(box)], fill=shade)
    small = small.filter(ImageFilter.GaussianBlur(blur))
    patch.paste(canvas, (92, 74, 56), small.resize(patch.size, Image.Resampling.BILINEAR))


def band(
    canvas: Image.Image,
    metal: str,
    *,
    centre: tuple[float, float],
    radii: tuple[float, float],
    thickness: float,
    depth: tuple[float, float],
) -> None:
    """A ring-shaped band (ring, hoop, bangle) seen at an angle: the front edge, the outer surface swept
    back by ``depth`` and, through the opening, the far inner wall."""
    cx, cy = centre
    rx, ry = radii
    dx, dy = depth
    area = (cx - rx - abs(dx), cy - ry - abs(dy), cx + rx + abs(dx), cy + ry + abs(dy))

    def ellipse(x: float, y: float, ax: float, ay: float) -> Image.Image:
        patch = Patch(area)
        patch.draw.ellipse(patch.box((x - ax, y - ay, x + ax, y + ay)), fill=255)
        return patch.mask

    front = ellipse(cx, cy, rx, ry)
    back = ellipse(cx + dx, cy + dy, rx, ry)
    # The sweep of an ellipse along (dx, dy): both ellipses plus the quad joining their tangent points.
    theta = math.atan2(-ry * dx, rx * dy) if (dx or dy) else 0.0
    p1 = (cx + rx * math.cos(theta), cy + ry * math.sin(theta))
    p2 = (cx - rx * math.cos(theta), cy - ry * math.sin(theta))
    quad = Patch(area)
    quad.draw.polygon(quad.xy([p1, (p1[0] + dx, p1[1] + dy), (p2[0] + dx, p2[1] + dy), p2]), fill=255)
    outer = ImageChops.lighter(ImageChops.lighter(front, back), quad.mask)
    hole_front = ellipse(cx, cy, rx - thickness, ry - thickness)
    hole_back = ellipse(cx + dx, cy + dy, rx - thickness, ry - thickness)
    see_through = ImageChops.multiply(hole_front, hole_back)

    outside = ImageChops.subtract(outer, front)
    quad.paste(canvas, gradient(quad.size, metal_stops(metal), 0), outside)
    quad.paste(
        canvas, gradient(quad.size, metal_stops(metal, style="face"), 35), ImageChops.subtract(front, hole_front)
    )
    inner = ImageChops.subtract(hole_front, see_through)
    quad.paste(canvas, gradient(quad.size, metal_stops(metal, style="inner"), 180), inner)


def brilliant(
    canvas: Image.Image,
    stone: str,
    *,
    centre: tuple[float, float],
    radius: float,
    squash: float = 1.0,
    glint: bool = True,
) -> None:
    """A round brilliant seen from above (squash < 1 tilts it away): facets shaded by their angle to a light
    at the top left, a table in the middle and a sparkle."""
    if stone in ("pearl", "opal"):
        cabochon(canvas, stone, centre=centre, radius=radius, squash=squash)
        return
    deep, dark, mid, light = GEM_TONES[stone]
    draw = ImageDraw.Draw(canvas)
    cx, cy = centre

    def at(r: float, angle: float) -> tuple[float, float]:
        return (cx + r * math.cos(angle), cy + r * squash * math.sin(angle))

    girdle = [at(radius, math.radians(k * 22.5)) for k in range(16)]
    table = [at(radius * 0.55, math.radians(j * 45 + 22.5)) for j in range(8)]
    star_points = [at(radius * 0.78, math.radians(j * 45)) for j in range(8)]
    light_angle = math.radians(225)
    for k in range(16):
        mid_angle = math.radians(k * 22.5 + 11.25)
        facing = (math.cos(mid_angle - light_angle) + 1) / 2  # 1 towards the light
        tone = _lerp(deep, light, facing * 0.85) if k % 2 else _lerp(dark, mid, facing)
        nearest = table[(k // 2) % 8] if k % 2 else table[(k // 2 - 1) % 8]
        draw.polygon([girdle[k], girdle[(k + 1) % 16], nearest], fill=tone)
    for j in range(8):
        facing = (math.cos(math.radians(j * 45) - light_angle) + 1) / 2
        draw.polygon([table[j - 1], star_points[j], table[j]], fill=_lerp(mid, light, facing))
        kite = [table[j], star_points[j], girdle[(2 * j + 1) % 16], star_points[(j + 1) % 8]]
        draw.polygon(kite, fill=_lerp(dark, mid, 1 - facing))
    draw.polygon(table, fill=_lerp(mid, light, 0.45))
    inner = [at(radius * 0.3, math.radians(j * 45 + 22.5)) for j in range(8)]
    draw.polygon(inner, fill=_lerp(mid, light, 0.7))
    if glint:
        sparkle(canvas, (cx - radius * 0.3, cy - radius * 0.3 * squash), radius * 0.45)


def cabochon(canvas: Image.Image, stone: str, *, centre: tuple[float, float], radius: float, squash: float = 1.0):
    """A smooth dome (pearl, opal) lit from the top left, with a soft highlight."""
    deep, dark, mid, light = GEM_TONES[stone]
    cx, cy = centre
    patch = Patch((cx - radius, cy - radius * squash, cx + radius, cy + radius * squash))
    patch.draw.ellipse(patch.box((cx - radius, cy - radius * squash, cx + radius, cy + radius * squash)), fill=255)
    hx, hy = (cx - radius * 0.3 - patch.x0) / patch.size[0], (cy - radius * 0.34 * squash - patch.y0) / patch.size[1]
    dome = radial(patch.size, [(0, light), (0.3, mid), (0.8, dark), (1, deep)], centre=(hx, hy), spread=0.75)
    if stone == "opal":  # play of colour: a few soft flecks
        flecks = Image.new("RGB", patch.size, (255, 255, 255))
        fdraw = ImageDraw.Draw(flecks)
        w, h = patch.size
        colours = ((150, 225, 205), (245, 170, 200), (170, 185, 255), (250, 220, 150), (160, 230, 170))
        for i in range(16):  # small flecks scattered in a fixed pattern, softened below
            fx, fy = w * (0.2 + 0.6 * ((i * 0.618) % 1)), h * (0.2 + 0.6 * ((i * 0.382 + 0.3) % 1))
            fdraw.ellipse((fx - w * 0.05, fy - h * 0.035, fx + w * 0.05, fy + h * 0.035), colours[i % 5])
        dome = ImageChops.blend(dome, ImageChops.multiply(dome, flecks.filter(ImageFilter.GaussianBlur(w / 30))), 0.75)
    if stone == "pearl":  # a faint rosé overtone
        dome = ImageChops.multiply(dome, Image.new("RGB", patch.size, (255, 236, 232)))
    patch.paste(canvas, dome)
    glow = Patch((cx - radius * 0.7, cy - radius * 0.7 * squash, cx, cy))
    gx, gy = cx - radius * 0.32, cy - radius * 0.36 * squash
    glow.draw.ellipse(
        glow.box((gx - radius * 0.2, gy - radius * 0.12, gx + radius * 0.2, gy + radius * 0.12)), fill=200
    )
    glow.paste(canvas, (255, 255, 255), glow.mask.filter(ImageFilter.GaussianBlur(radius * 0.07)))


def sparkle(canvas: Image.Image, point: tuple[float, float], length: float) -> None:
    """A four-pointed glint of light."""
    x, y = point
    w = length * 0.09
    patch = Patch((x - length, y - length, x + length, y + length))
    patch.draw.polygon(patch.xy([(x - length, y), (x, y - w), (x + length, y), (x, y + w)]), fill=235)
    patch.draw.polygon(patch.xy([(x, y - length * 0.7), (x - w, y), (x, y + length * 0.7), (x + w, y)]), fill=235)
    patch.draw.ellipse(patch.box((x - w * 1.6, y - w * 1.6, x + w * 1.6, y + w * 1.6)), fill=255)
    patch.paste(canvas, (255, 255, 255))


def prong(canvas: Image.Image, metal: str, start: tuple[float, float], end: tuple[float, float], width: float) -> None:
    patch = Patch(
        (
            min(start[0], end[0]) - width,
            min(start[1], end[1]) - width,
            max(start[0], end[0]) + width,
            max(start[1], end[1]) + width,
        )
    )
    patch.draw.line(patch.xy([start, end]), fill=255, width=round(width))
    r = width * 0.6
    patch.draw.ellipse(patch.box((end[0] - r, end[1] - r, end[0] + r, end[1] + r)), fill=255)
    patch.metal(canvas, metal, angle=90)


def bezel(canvas: Image.Image, metal: str, *, centre: tuple[float, float], radius: float, squash: float = 1.0):
    """The metal collar round a stone, a little larger than the stone."""
    cx, cy = centre
    rim = radius * 1.14
    box = (cx - rim, cy - rim * squash, cx + rim, cy + rim * squash)
    patch = Patch(box)
    patch.draw.ellipse(patch.box(box), fill=255)
    patch.metal(canvas, metal, angle=45)


def round_metal(canvas: Image.Image, metal: str, box: tuple[float, float, float, float], *, angle: float = 40) -> None:
    patch = Patch(box)
    patch.draw.ellipse(patch.box(box), fill=255)
    patch.metal(canvas, metal, angle=angle)


def wire(
    canvas: Image.Image, metal: str, box: tuple[float, float, float, float], start: float, end: float, width: float
):
    """An arc of round wire (ear hooks, bails)."""
    patch = Patch(box, pad=round(width) + 4)
    patch.draw.arc(patch.box(box), start, end, fill=255, width=round(width))
    patch.metal(canvas, metal, angle=90)


def chain(canvas: Image.Image, metal: str, points: list[tuple[float, float]], link: float) -> None:
    """Links along a path, alternating face-on ovals and edge-on bars, like a fine cable chain."""
    shadow, mid, light, high = METAL_TONES[metal]
    draw = ImageDraw.Draw(canvas)
    # Resample the path at equal steps of one link.
    placed: list[tuple[float, float, float]] = []
    carry = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        seg = math.hypot(x1 - x0, y1 - y0)
        angle = math.atan2(y1 - y0, x1 - x0)
        d = carry
        while d < seg:
            placed.append((x0 + (x1 - x0) * d / seg, y0 + (y1 - y0) * d / seg, angle))
            d += link
        carry = d - seg
    for i, (x, y, angle) in enumerate(placed):
        along = (math.cos(angle) * link * 0.62, math.sin(angle) * link * 0.62)
        across = (-math.sin(angle) * link * 0.34, math.cos(angle) * link * 0.34)
        if i % 2:
            draw.line(
                [(x - along[0], y - along[1]), (x + along[0], y + along[1])], fill=shadow, width=round(link * 0.3)
            )
            draw.line(
                [(x - along[0], y - along[1]), (x + along[0], y + along[1])], fill=light, width=round(link * 0.14)
            )
        else:
            outline = [
                (
                    x + along[0] * math.cos(t) + across[0] * math.sin(t),
                    y + along[1] * math.cos(t) + across[1] * math.sin(t),
                )
                for t in (k * math.pi / 8 for k in range(17))
            ]
            draw.line(outline, fill=mid, width=round(link * 0.16), joint="curve")
            draw.line(outline[1:7], fill=high, width=round(link * 0.07), joint="curve")


# --- Whole pictures ------------------------------------------------------------------------------------


def _ring(canvas: Image.Image, metal: str, stone: str, variant: str) -> None:
    s = canvas.size[0]
    cx, cy = s * 0.48, s * 0.6
    rx, ry = s * 0.25, s * 0.27
    wide = variant in ("band", "eternity")
    depth = (s * (0.07 if wide else 0.035), -s * 0.012)
    soft_shadow(canvas, (cx - rx * 1.1, cy + ry * 0.72, cx + rx * 1.3, cy + ry * 1.16))
    band(canvas, metal, centre=(cx, cy), radii=(rx, ry), thickness=s * (0.032 if wide else 0.024), depth=depth)
    top = (cx + depth[0] * 0.5, cy - ry)
    if variant == "band":
        return
    if variant == "eternity":
        for k in range(11):
            angle = math.radians(192 + k * 15.6)
            point = (cx + (rx - s * 0.016) * math.cos(angle), cy + (ry - s * 0.016) * math.sin(angle))
            brilliant(canvas, stone, centre=point, radius=s * 0.014)
        return
    gem_r = s * {"cocktail": 0.1, "trilogy": 0.07}.get(variant, 0.088)
    gx, gy = top[0], top[1] - gem_r * 0.55
    if variant == "trilogy":
        for side in (-1, 1):
            sx, sy = gx + side * gem_r * 1.55, gy + gem_r * 0.22
            prong(canvas, metal, (sx, top[1] + s * 0.02), (sx + side * gem_r * 0.55, sy), s * 0.01)
            brilliant(canvas, stone, centre=(sx, sy), radius=gem_r * 0.62, squash=0.62)
    if variant in ("halo", "cocktail"):
        halo_r = gem_r * 1.3
        bezel(canvas, metal, centre=(gx, gy), radius=halo_r, squash=0.62)
        for k in range(20):
            angle = math.radians(k * 18)
            point = (gx + halo_r * math.cos(angle), gy + halo_r * 0.62 * math.sin(angle))
            brilliant(canvas, "diamond", centre=point, radius=gem_r * 0.19, squash=0.62, glint=False)
    else:
        for side in (-1, 1):
            start = (top[0] + side * gem_r * 0.3, top[1] + s * 0.03)
            prong(canvas, metal, start, (gx + side * gem_r * 0.98, gy), s * 0.013)
    brilliant(canvas, stone, centre=(gx, gy), radius=gem_r, squash=0.62)
    for side in (-1, 1):
        tip = (gx + side * gem_r * 0.72, gy + gem_r * 0.36)
        prong(canvas, metal, (tip[0], tip[1] + gem_r * 0.25), tip, s * 0.012)


def _necklace(canvas: Image.Image, metal: str, stone: str, variant: str) -> None:
    s = canvas.size[0]
    bail = (s * 0.5, s * 0.5)
    arms = []
    for side in (-1, 1):
        arm = []
        for i in range(41):
            t = i / 40
            arm.append((bail[0] + side * s * 0.34 * math.sin(t * math.pi / 2) ** 0.7, bail[1] - s * 0.56 * t**1.6))
        arms.append(arm)
    chain(canvas, metal, list(reversed(arms[0])) + arms[1][1:], s * 0.013)
    if variant == "chain":
        return
    drop_r = s * (0.1 if variant in ("disc", "pearl") else 0.085)
    centre = (bail[0], bail[1] + s * 0.045 + drop_r)
    soft_shadow(
        canvas, (centre[0] - drop_r, centre[1] + drop_r * 0.4, centre[0] + drop_r * 1.4, centre[1] + drop_r * 1.3)
    )
    loop = (bail[0] - s * 0.02, bail[1] - s * 0.012, bail[0] + s * 0.02, bail[1] + s * 0.06)
    wire(canvas, metal, loop, 0, 360, s * 0.011)
    if variant == "disc":
        round_metal(canvas, metal, (centre[0] - drop_r, centre[1] - drop_r, centre[0] + drop_r, centre[1] + drop_r))
        _engrave_sun(canvas, metal, centre, drop_r)
        if stone:
            bezel(canvas, metal, centre=centre, radius=drop_r * 0.2)
            brilliant(canvas, stone, centre=centre, radius=drop_r * 0.2)
        return
    if variant == "pearl":
        cabochon(canvas, "pearl", centre=centre, radius=drop_r)
        return
    bezel(canvas, metal, centre=centre, radius=drop_r)
    brilliant(canvas, stone or "diamond", centre=centre, radius=drop_r)


def _engrave_sun(canvas: Image.Image, metal: str, centre: tuple[float, float], radius: float) -> None:
    """A rim line and engraved rays: the Solstice motif."""
    cx, cy = centre
    patch = Patch((cx - radius, cy - radius, cx + radius, cy + radius))
    inset = radius * 0.86
    patch.draw.ellipse(
        patch.box((cx - inset, cy - inset, cx + inset, cy + inset)), outline=120, width=max(2, round(radius * 0.025))
    )
    for k in range(24):
        angle = math.radians(k * 15)
        start, end = radius * 0.3, radius * (0.62 if k % 2 else 0.72)
        points = [
            (cx + start * math.cos(angle), cy + start * math.sin(angle)),
            (cx + end * math.cos(angle), cy + end * math.sin(angle)),
        ]
        patch.draw.line(patch.xy(points), fill=120, width=max(2, round(radius * 0.03)))
    patch.paste(canvas, METAL_TONES[metal][0])


def _earrings(canvas: Image.Image, metal: str, stone: str, variant: str) -> None:
    s = canvas.size[0]
    for side in (-1, 1):
        cx = s * (0.5 + side * 0.18)
        if variant == "hoop":
            cy = s * 0.5
            soft_shadow(canvas, (cx - s * 0.12, cy + s * 0.13, cx + s * 0.15, cy + s * 0.23), strength=0.22)
            band(canvas, metal, centre=(cx, cy), radii=(s * 0.12, s * 0.15), thickness=s * 0.024, depth=(s * 0.028, 0))
            if stone:
                for k in range(9):
                    angle = math.radians(100 + k * 10)
                    point = (cx + s * 0.108 * math.cos(angle), cy + s * 0.138 * math.sin(angle))
                    brilliant(canvas, stone, centre=point, radius=s * 0.01, glint=False)
        elif variant == "drop":
            top = s * 0.3
            wire(canvas, metal, (cx - s * 0.05, top - s * 0.12, cx + s * 0.05, top + s * 0.02), 160, 360, s * 0.009)
            prong(canvas, metal, (cx + s * 0.05, top - s * 0.05), (cx, top + s * 0.11), s * 0.008)
            drop = (cx, top + s * 0.22)
            soft_shadow(canvas, (cx - s * 0.06, drop[1] + s * 0.1, cx + s * 0.1, drop[1] + s * 0.16), strength=0.2)
            if stone == "pearl":
                cabochon(canvas, "pearl", centre=drop, radius=s * 0.075)
            else:
                bezel(canvas, metal, centre=drop, radius=s * 0.06, squash=1.3)
                brilliant(canvas, stone or "diamond", centre=drop, radius=s * 0.06, squash=1.3)
        else:  # stud, photographed face on
            cy = s * 0.5
            r = s * 0.08
            soft_shadow(canvas, (cx - r, cy + r * 0.6, cx + r * 1.4, cy + r * 1.5), strength=0.22)
            if stone == "pearl":
                cabochon(canvas, "pearl", centre=(cx, cy), radius=r)
                continue
            bezel(canvas, metal, centre=(cx, cy), radius=r * 1.02)
            brilliant(canvas, stone or "diamond", centre=(cx, cy), radius=r)
            for k in range(4):
                angle = math.radians(45 + k * 90)
                tx, ty = cx + r * 0.97 * math.cos(angle), cy + r * 0.97 * math.sin(angle)
                round_metal(canvas, metal, (tx - s * 0.012, ty - s * 0.012, tx + s * 0.012, ty + s * 0.012))


def _bracelet(canvas: Image.Image, metal: str, stone: str, variant: str) -> None:
    s = canvas.size[0]
    cx, cy = s * 0.5, s * 0.48
    rx, ry = s * 0.34, s * 0.2
    # A loop lying flat shades only the ground under itself, a little lower than the metal.
    soft_shadow(canvas, (cx - rx, cy - ry + s * 0.04, cx + rx, cy + ry + s * 0.05), strength=0.3, ring=s * 0.03)
    if variant in ("bangle", "cuff"):
        depth = (0, s * (0.06 if variant == "cuff" else 0.03))
        band(canvas, metal, centre=(cx, cy), radii=(rx, ry), thickness=s * 0.022, depth=depth)
        if stone:
            for k in range(3):
                angle = math.radians(70 + k * 20)
                point = (cx + (rx - s * 0.004) * math.cos(angle), cy + depth[1] / 2 + ry * math.sin(angle))
                bezel(canvas, metal, centre=point, radius=s * 0.016)
                brilliant(canvas, stone, centre=point, radius=s * 0.016, glint=False)
        return
    loop = [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a))) for a in range(0, 361, 3)]
    if variant == "tennis":
        ImageDraw.Draw(canvas).line(loop, fill=METAL_TONES[metal][1], width=max(1, round(s * 0.008)), joint="curve")
        for a in range(0, 360, 9):
            angle = math.radians(a)
            point = (cx + rx * math.cos(angle), cy + ry * math.sin(angle))
            r = s * (0.012 + 0.006 * (math.sin(angle) + 1) / 2)  # the front of the loop is nearer, so larger
            bezel(canvas, metal, centre=point, radius=r, squash=0.8)
            brilliant(canvas, stone or "diamond", centre=point, radius=r, squash=0.8, glint=a % 36 == 0)
        return
    chain(canvas, metal, loop, s * 0.026)
    if stone:
        charm = (cx + rx * math.cos(math.radians(80)), cy + ry * math.sin(math.radians(80)) + s * 0.05)
        wire(
            canvas,
            metal,
            (charm[0] - s * 0.012, charm[1] - s * 0.06, charm[0] + s * 0.012, charm[1] - s * 0.025),
            0,
            360,
            s * 0.007,
        )
        bezel(canvas, metal, centre=charm, radius=s * 0.03)
        brilliant(canvas, stone, centre=charm, radius=s * 0.03)


DRAWINGS = {"ring": _ring, "necklace": _necklace, "earrings": _earrings, "bracelet": _bracelet}


@functools.lru_cache(maxsize=4)  # one per backdrop, ~4 MB each at 1200px
def _backdrop(backdrop: str, size: int) -> Image.Image:
    """A smooth radial backdrop at the final size: it needs no detail, so it is made small and scaled up."""
    centre_tone, edge_tone = BACKGROUNDS[backdrop]
    small = radial((256, 256), [(0, centre_tone), (0.5, centre_tone), (1, edge_tone)], centre=(0.45, 0.4))
    return small.resize((size, size), Image.Resampling.BILINEAR)


def render(*, kind: str, variant: str, metal: str, stone: str, size: int = 1200, backdrop: str = "cream") -> bytes:
    """A ``size``-square JPEG of one piece: kind is ring/necklace/earrings/bracelet, variant its style."""
    # Pixels doubled, not interpolated again: the supersampled canvas is halved back at the end anyway.
    canvas = _backdrop(backdrop, size).resize((size * SUPERSAMPLE,) * 2, Image.Resampling.NEAREST)
    DRAWINGS[kind](canvas, metal, stone, variant)
    picture = canvas.reduce(SUPERSAMPLE)
    out = BytesIO()
    picture.save(out, format="JPEG", quality=88)
    return out.getvalue()


# --- In a worker process -------------------------------------------------------------------------------
# Here rather than in demo.py so that a worker started fresh (spawn or forkserver: macOS, Windows, newer
# Pythons) can import it without the models: it needs nothing but Pillow and the image settings.


def demo_image_prepare(drawing: dict[str, object]) -> ProcessedImage:
    """Draw one demo photo (``drawing``: render's arguments) and put it through the checks and re-encoding
    an upload gets. CPU only, plain data in and out, so the demo loader runs it in worker processes."""
    # Drawn again on every fresh machine: the quicker encoder effort (files a few % larger, same quality).
    return image_process(render(**drawing), quick=True)


def worker_init() -> None:
    """Ctrl-C is for the main process, which stops the pool; a worker just finishes its current photo."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
