"""Synthetic breast-ultrasound B-mode images: the data set the suite uses when BUSI is absent.

Image model (all in normalised coordinates, depth y and lateral x in [0, 1]):

* Tissue echogenicity map: a bright thin skin line near the top, hypoechoic subcutaneous fat
  with oblique bright Cooper's ligaments and a few dark fat lobules (lesion look-alikes),
  brighter glandular tissue between wavy boundaries, and a darker striated chest wall at the
  bottom.  Depth-dependent attenuation (imperfect time-gain compensation) darkens with depth;
  occasional thin refraction shadows (dark vertical streaks) occur in both classes.
* A hypoechoic lesion at middle depth, drawn as a soft mask whose radius is an ellipse
  modulated by random harmonics (lobulation / irregularity) plus thin spikes (spiculation).
* Speckle: the echogenicity is multiplied by Rayleigh-distributed amplitude (magnitude of a
  complex Gaussian field, spatially correlated by a small blur), then log-compressed to a
  random dynamic range and gain, as a scanner does.

Cues and their probabilities (benign / malignant); every one overlaps between the classes:

    taller than wide (depth > width)            ~8% / ~64%   (log aspect ratio ~ N(-0.4 | 0.15, 0.3))
    irregular margin (strong harmonics)         20% / 70%    (mild lobulation otherwise)
    spiculation (thin radial spikes)             5% / 40%
    indistinct (blurred) margin                 15% / 60%
    posterior shadowing                         10% / 60%
    posterior enhancement                       40% / 10%    (none otherwise)
    heterogeneous interior / echogenic foci     20% / 65%
    anechoic, cyst-like interior                15% /  0%

Lesion size, contrast, position, speckle strength, gain and dynamic range vary widely and are
drawn from the same distributions for both classes.

Determinism and labels: image i is drawn from ``numpy.random.default_rng([seed, i])`` and
depends only on (seed, i, image_size) and its label.  Labels follow the low-discrepancy (Beatty)
sequence ``label_i = round((i + 1) * f) - round(i * f)`` for the malignant fraction f, so label i
depends only on (i, f) and every prefix of length n holds exactly round(n * f) malignant images:
make_synthetic(100, ...) is exactly the first 100 images of make_synthetic(200, ...) (same
seed, size and fraction).  The label order is thus interleaved deterministically (the same for
every seed); the image content is what the seed randomises.

Sites: ``site="shifted"`` (registered as ``synthetic_shifted``) renders the same anatomy and the
same lesion cues with the above probabilities, as another scanner at another hospital would
show them: coarser, fully developed speckle with wider grains, stronger depth attenuation,
higher gain and a narrower dynamic range (so brighter, more contrasted images that darken faster
with depth). Its images come from another random stream (``default_rng([seed, i, 1])``), so they
are different images from the base set's for every seed: an external test set for CI.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from benchmark.data.imageset import ImageSet
from benchmark.data.registry import register_dataset

BUSI_MALIGNANT_FRACTION = 210 / 647


@dataclass(frozen=True)
class Site:
    """What a scanner (site) changes; the lesion model and its cues are the same everywhere."""

    stream: tuple[int, ...]  # appended to [seed, index] for the random stream
    attenuation: tuple[float, float]  # residual attenuation after TGC, per unit depth
    speckle_sigma: tuple[float, float]  # speckle correlation (x size/128 px)
    speckle_aspect: float  # lateral / axial grain size
    speckle_strength: tuple[float, float]  # fraction of fully developed speckle
    dynamic_range: tuple[float, float]  # dB
    gain: tuple[float, float]  # dB at the top of the display range


SITES = {
    "base": Site((), (0.3, 1.3), (0.4, 0.9), 1.6, (0.6, 1.0), (35, 50), (14, 20)),
    "shifted": Site((1,), (1.0, 1.8), (0.9, 1.4), 2.4, (0.9, 1.0), (28, 36), (5, 9)),
}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size) + 0.5) / size
    return c[:, None], c[None, :]  # y (depth) column, x (lateral) row


def _wavy(rng: np.random.Generator, x: np.ndarray, base: float, amp: float) -> np.ndarray:
    """A depth boundary that wanders laterally: base + a few random low-frequency sinusoids."""
    k, a, phase = (rng.uniform(lo, hi, (3, 1, 1)) for lo, hi in ((0.5, 3.0), (0.3, 1.0), (0, 2 * np.pi)))
    return base + (amp * a * np.sin(2 * np.pi * k * x + phase)).sum(0) / 2


def _tissue_background(rng: np.random.Generator, size: int, site: Site = SITES["base"]) -> np.ndarray:
    """Echogenicity (linear amplitude, about 1 in glandular tissue) of the breast layers."""
    y, x = _grid(size)
    px = 1.0 / size
    skin = rng.uniform(0.03, 0.06)
    fat_end = _wavy(rng, x, rng.uniform(0.15, 0.35), 0.06)
    gland_end = _wavy(rng, x, rng.uniform(0.70, 0.88), 0.06)
    step = lambda d: np.clip(d / 0.04 + 0.5, 0, 1)  # noqa: E731 - soft layer edge (linear ramps: fast)
    fat_level, gland_level = rng.uniform(0.35, 0.6), rng.uniform(0.8, 1.2)
    e = fat_level + (gland_level - fat_level) * step(y - fat_end) - (gland_level - 0.35) * step(y - gland_end)
    e = e + 2.5 * np.exp(-0.5 * ((y - skin) / max(0.008, 1.2 * px)) ** 2)  # skin line
    # Cooper's ligaments: oblique bright curves in the fat and at the fat/gland interface
    for _ in range(rng.integers(2, 6)):
        x0, slope, curve = rng.uniform(0, 1), rng.uniform(-1, 1), rng.uniform(-1.5, 1.5)
        d = y - (skin + 0.02 + slope * (x - x0) + curve * (x - x0) ** 2)
        in_fat = (y > skin + 0.01) & (y < fat_end + 0.03)
        e = e + rng.uniform(0.4, 1.2) * np.clip(1 - np.abs(d) / 0.012, 0, None) * in_fat
    # fat lobules: small dark ovals in the subcutaneous layer (look-alikes of small lesions)
    for _ in range(rng.integers(0, 4)):
        cy, cx = rng.uniform(skin + 0.04, 0.3), rng.uniform(0.1, 0.9)
        r = ((x - cx) / rng.uniform(0.04, 0.1)) ** 2 + ((y - cy) / rng.uniform(0.02, 0.05)) ** 2
        e = e * (1 - rng.uniform(0.3, 0.6) * np.clip(2 * (1 - r), 0, 1))
    # chest wall: striated muscle below the gland
    stripes = 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(8, 16) * (y + 0.1 * x * rng.uniform(-1, 1)))
    e = np.where(y > gland_end, e * stripes, e)
    e = e * np.exp(-rng.uniform(*site.attenuation) * y)  # residual attenuation after TGC
    for _ in range(rng.poisson(0.5)):  # refraction (edge) shadow, in both classes
        e = e * (1 - rng.uniform(0.3, 0.6) * np.exp(-0.5 * ((x - rng.uniform(0.1, 0.9)) / 0.012) ** 2)
                 * (y > rng.uniform(0.2, 0.5)))
    return e


def _lesion_mask(rng: np.random.Generator, size: int, malignant: bool) -> np.ndarray:
    """Soft mask (0..1) of the lesion: an ellipse with a harmonic/spiculated margin."""
    y, x = _grid(size)
    width = rng.uniform(0.07, 0.2)  # half-width
    log_ratio = rng.normal(0.15, 0.3) if malignant else rng.normal(-0.4, 0.3)
    height = min(width * np.exp(log_ratio), 0.2)
    cy, cx = rng.uniform(0.35, 0.6), rng.uniform(0.3, 0.7)
    tilt = rng.normal(0, 0.2)
    dx, dy = x - cx, y - cy
    u, v = dx * np.cos(tilt) + dy * np.sin(tilt), -dx * np.sin(tilt) + dy * np.cos(tilt)
    rho, theta = np.hypot(u / width, v / height), np.arctan2(v / height, u / width)
    # margin radius as a function of angle, tabulated on 720 angles then looked up per pixel
    angles = np.linspace(-np.pi, np.pi, 721)[:, None]
    irregular = rng.random() < (0.7 if malignant else 0.2)
    ks = np.arange(2, 13)
    amp = rng.uniform(0, 0.15 if irregular else 0.04, ks.size) / np.sqrt(ks / 2)
    r = 1 + (amp * np.cos(ks * angles + rng.uniform(0, 2 * np.pi, ks.size))).sum(1)
    if rng.random() < (0.4 if malignant else 0.05):  # spiculation: thin radial spikes
        spikes = rng.uniform(-np.pi, np.pi, rng.integers(4, 10))
        gap = np.angle(np.exp(1j * (angles - spikes)))
        r = r + (rng.uniform(0.2, 0.6, spikes.size) * np.exp(-0.5 * (gap / 0.04) ** 2)).sum(1)
    r = np.interp(theta, angles[:, 0], r)
    blurred = rng.random() < (0.6 if malignant else 0.15)
    edge = (rng.uniform(0.08, 0.2) if blurred else 0.02) + 1.0 / (size * width)
    mask = np.clip((r - rho) / edge + 0.5, 0, 1)
    return mask


def _apply_lesion(rng: np.random.Generator, e: np.ndarray, mask: np.ndarray, malignant: bool) -> np.ndarray:
    """Darken the lesion, give it a texture, and shadow or enhance the tissue below it."""
    size = e.shape[0]
    contrast = np.exp(rng.uniform(np.log(0.07), np.log(0.35)))  # relative to the tissue around it
    if not malignant and rng.random() < 0.15:
        contrast = rng.uniform(0.02, 0.06)  # anechoic, cyst-like
    ring = np.clip(ndimage.uniform_filter(mask, size // 8) - mask, 0, None)  # tissue around it
    inside = np.full_like(e, contrast * (e * ring).sum() / (ring.sum() + 1e-9))
    if rng.random() < (0.65 if malignant else 0.2):  # heterogeneous interior, echogenic foci
        blob = ndimage.gaussian_filter(rng.standard_normal(e.shape), size / 40, truncate=2.5)
        inside = inside * np.exp(0.7 * blob / (blob.std() + 1e-9) - 0.245)  # mean kept
        if rng.random() < 0.5:  # microcalcifications: a few tiny bright dots
            inside = inside + 1.5 * (rng.random(e.shape) < 0.003) * mask
    e = e * (1 - mask) + inside * mask
    u = rng.random()
    p_shadow, p_enhance = (0.6, 0.1) if malignant else (0.1, 0.4)
    gain = 0.0
    if u < p_shadow:
        gain = -rng.uniform(0.25, 0.6)
    elif u < p_shadow + p_enhance:
        gain = rng.uniform(0.3, 0.8)
    if gain:
        below = np.clip(np.maximum.accumulate(mask, axis=0) - mask, 0, 1)
        below = ndimage.gaussian_filter1d(below, size / 40, axis=1)
        e = e * (1 + gain * below)
    return e


def _speckle(rng: np.random.Generator, e: np.ndarray, site: Site = SITES["base"]) -> np.ndarray:
    """Multiply by correlated Rayleigh speckle and log-compress to uint8."""
    size = e.shape[0]
    sigma = rng.uniform(*site.speckle_sigma) * size / 128
    field = rng.standard_normal((2, size, size))
    field = ndimage.gaussian_filter(field, (0, sigma, site.speckle_aspect * sigma))  # grains wider than deep
    ray = np.hypot(field[0], field[1])
    ray /= ray.mean()
    strength = rng.uniform(*site.speckle_strength)  # fraction of fully developed speckle
    amp = e * (1 - strength + strength * ray)
    db = 20 * np.log10(amp + 1e-4)
    dyn, top = rng.uniform(*site.dynamic_range), rng.uniform(*site.gain)  # dynamic range and gain (dB)
    return (255 * np.clip((db - (top - dyn)) / dyn, 0, 1)).round().astype(np.uint8)


def _render(seed: int, index: int, image_size: int, malignant: bool,
            site: str = "base") -> tuple[np.ndarray, np.ndarray]:
    """Image number `index` of the stream `seed` at `site`, and its lesion mask."""
    params = SITES[site]
    rng = np.random.default_rng([seed, index, *params.stream])
    e = _tissue_background(rng, image_size, params)
    mask = _lesion_mask(rng, image_size, malignant)
    e = _apply_lesion(rng, e, mask, malignant)
    return _speckle(rng, e, params), mask


def _labels(n: int, fraction: float) -> np.ndarray:
    counts = np.array([round(k * fraction) for k in range(n + 1)])
    return np.diff(counts).astype(np.int64)


def make_synthetic(n_images: int = 200, image_size: int = 128, seed: int = 0,
                   malignant_fraction: float = BUSI_MALIGNANT_FRACTION, site: str = "base") -> ImageSet:
    """Generate `n_images` ultrasound-like images of `image_size` pixels (see the module docstring).

    ``site`` "base" (the ImageSet ``synthetic``) or "shifted" (``synthetic_shifted``: another
    scanner, other images).
    """
    if site not in SITES:
        raise ValueError(f"site must be one of {', '.join(SITES)}, got {site!r}")
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 2:
        raise ValueError(f"n_images must be an integer >= 2, got {n_images!r}; pass e.g. n_images=200")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 32:
        raise ValueError(f"image_size must be an integer >= 32, got {image_size!r}; "
                         "pass e.g. image_size=128")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}; pass e.g. seed=0")
    if not isinstance(malignant_fraction, (int, float, np.floating)) or not 0 < malignant_fraction < 1:
        raise ValueError(f"malignant_fraction must be a number with 0 < malignant_fraction < 1, got "
                         f"{malignant_fraction!r}; pass e.g. malignant_fraction={BUSI_MALIGNANT_FRACTION:.4f}")
    n, size, seed, fraction = int(n_images), int(image_size), int(seed), float(malignant_fraction)
    labels = _labels(n, fraction)
    images = np.stack([_render(seed, i, size, bool(labels[i]), site)[0] for i in range(n)])
    name = "synthetic" if site == "base" else f"synthetic_{site}"
    ids = [f"{name}/{i:06d}" for i in range(n)]
    digest = hashlib.sha256()
    for image_id, image in zip(ids, images):
        digest.update(image_id.encode())
        digest.update(image.tobytes())
    return ImageSet(images=images, labels=labels, ids=ids, groups=np.arange(n, dtype=np.int64),
                    name=name, synthetic=True, checksum=digest.hexdigest(), excluded=[])


def synthetic_masks(ids, image_size: int, seed: int = 0, malignant_fraction: float = BUSI_MALIGNANT_FRACTION,
                    site: str = "base") -> np.ndarray:
    """The lesion masks (soft mask > 0.5) of the generated images ``ids`` (``<name>/NNNNNN``), drawn
    again from the same streams as :func:`make_synthetic` draws the images."""
    out = np.zeros((len(ids), image_size, image_size), dtype=bool)
    for k, image_id in enumerate(ids):
        index = int(str(image_id).rsplit("/", 1)[-1])
        malignant = bool(_labels(index + 1, malignant_fraction)[index])
        out[k] = _render(seed, index, image_size, malignant, site)[1] > 0.5
    return out


_CITATION = "generated by petl-bench (benchmark/data/synthetic.py); no real patient data"
_LICENCE = "MIT (generated by the suite, like its code)"


@register_dataset("synthetic", title="synthetic", synthetic=True, citation=_CITATION, licence=_LICENCE,
                  description="SYNTHETIC ultrasound-like images generated from a seed (when BUSI is absent; CI)",
                  lesion_masks=lambda root, ids, image_size, seed=0: synthetic_masks(ids, image_size, seed))
def _load_synthetic(root, image_size: int, n_images: int = 647, seed: int = 0) -> ImageSet:
    return make_synthetic(n_images=n_images, image_size=image_size, seed=seed)


@register_dataset("synthetic_shifted", title="synthetic, shifted site", synthetic=True, citation=_CITATION,
                  licence=_LICENCE,
                  description="SYNTHETIC images as from another scanner (other speckle, gain, attenuation; "
                              "same cues): an external set for CI",
                  lesion_masks=lambda root, ids, image_size, seed=0: synthetic_masks(ids, image_size, seed,
                                                                                    site="shifted"))
def _load_synthetic_shifted(root, image_size: int, n_images: int = 647, seed: int = 0) -> ImageSet:
    return make_synthetic(n_images=n_images, image_size=image_size, seed=seed, site="shifted")
