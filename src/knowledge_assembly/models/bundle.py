"""The one home of a trained model: what training writes and evaluation, inference and the catalog read."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import ModelConfig
from ..files import ModelFileError, load_state, save_state
from .ka_net import KANet, restore_network

FORMAT = "knowledge_assembly.model_bundle/1"
MAX_IMAGE_SIDE = 4096  # pixels; the real protocol's input is 256x128


@dataclass(frozen=True)
class ModelBundle:
    """The trained networks of one variant (two for twin variants) and what is needed to run them.

    ``image_size`` is (width, height) of the network input; ``trained_tasks`` the supervised tasks
    (``reid``, ``par``) of the variant; ``settings`` the settings it was trained with (variant, training,
    validation, model), so a run can be compared with another. Saved as plain tensors, lists, numbers and
    strings, so it loads with ``weights_only=True``.
    """

    variant: str
    model: ModelConfig
    attributes: tuple[str, ...]
    num_ids: int
    image_size: tuple[int, int]
    seed: int
    trained_tasks: tuple[str, ...]
    state_dicts: tuple[dict[str, torch.Tensor], ...]
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    num_sources: int = 2  # training sources (domains): the source classifier and domain-specific statistics
    sources: tuple[str, ...] = ()  # their names, in domain order (a bundle of before source sets: none)
    par_validation: dict[str, float] = dataclasses.field(default_factory=dict)  # source -> PAR val mA measured there
    adapted_domains: tuple[str, ...] = ()  # domains added after training (label-free BatchNorm statistics, AdaBN)

    @property
    def domains(self) -> tuple[str, ...]:
        """Every domain's name in index order: the training sources, then the adapted domains."""
        sources = self.sources or tuple(f"source{i}" for i in range(self.num_sources))
        return (*sources, *self.adapted_domains)

    def domain_of(self, source: str, default: int = 0) -> int:
        """The domain index whose statistics normalise images of ``source`` (``default`` for a source or camera it
        was neither trained on nor adapted to)."""
        return self.domains.index(source) if source in self.domains else default

    @property
    def label_counts(self) -> dict[str, int]:
        """Classes of each task's head (the file keeps them as ``num_ids`` and the attribute names)."""
        return {"reid": self.num_ids, "par": len(self.attributes)}

    def networks(self) -> list[KANet]:
        """Every trained network, in evaluation mode."""
        return [
            restore_network(self.model, self.label_counts, weights, self.num_sources, len(self.domains)).eval()
            for weights in self.state_dicts
        ]

    def to_state(self) -> dict[str, Any]:
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return {
            **fields,
            "format": FORMAT,
            "model": self.model.as_dict(),
            "attributes": list(self.attributes),
            "image_size": list(self.image_size),
            "trained_tasks": list(self.trained_tasks),
            "sources": list(self.sources),
            "adapted_domains": list(self.adapted_domains),
            "state_dicts": list(self.state_dicts),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], path: str | Path) -> ModelBundle:
        if "optimizer" in state and "epoch" in state:
            raise ModelFileError(
                path, "is a training checkpoint, not a model bundle; use data/06_models/<dataset>/<variant>.pt"
            )
        if state.get("format") != FORMAT:
            raise ModelFileError(
                path, f"not a model bundle of this project (format {state.get('format')!r}, expected {FORMAT!r})"
            )
        required = [f.name for f in dataclasses.fields(cls) if dataclasses.MISSING is f.default is f.default_factory]
        missing = [name for name in required if name not in state]
        if missing:
            raise ModelFileError(path, f"a model bundle without {', '.join(missing)}: not written by this project")
        try:
            bundle = cls(
                str(state["variant"]),
                ModelConfig(**state["model"]),
                tuple(str(name) for name in state["attributes"]),
                int(state["num_ids"]),
                (int(state["image_size"][0]), int(state["image_size"][1])),
                int(state["seed"]),
                tuple(state["trained_tasks"]),
                tuple(state["state_dicts"]),
                dict(state.get("settings", {})),
                int(state.get("num_sources", 2)),
                tuple(str(name) for name in state.get("sources", ())),
                {str(name): float(score) for name, score in state.get("par_validation", {}).items()},
                tuple(str(name) for name in state.get("adapted_domains", ())),
            )
        except (TypeError, ValueError, IndexError) as err:
            raise ModelFileError(path, f"not a valid model bundle ({type(err).__name__}: {err})") from None
        width, height = bundle.image_size
        if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
            raise ModelFileError(path, f"image_size {width}x{height}: a network input side must be 1..{MAX_IMAGE_SIDE}")
        return bundle

    def save(self, path: Path) -> None:
        save_state(self.to_state(), path)

    @classmethod
    def load(cls, path: Path) -> ModelBundle:
        """Load a bundle file with ``weights_only``: a file holding other pickled objects is refused, nothing in
        it runs."""
        return cls.from_state(load_state(path), path)
