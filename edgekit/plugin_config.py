"""The base of every plug-in's static config: a model builder's, a dataset loader's, a
compression stage's config and an exporter's options.

Why a module of its own, at the bottom: the plug-in packages (``models``, ``data``, ``stages``,
``exporters``) derive their config bases from it and the recipe schema holds their validated
objects, so both import it and neither has to import the other.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class PluginConfig(BaseModel):
    """The static config of a plug-in (a builder's, loader's, stage's config, an exporter's
    options): the base of ``BuilderConfig``, ``LoaderConfig``, ``StageConfig`` and
    ``ExportOptions``. Fields are read as attributes; ``config["field"]`` reads one by its
    recipe spelling too, as the mapping it was written as."""

    model_config = ConfigDict(extra="forbid")

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        if self.model_extra is not None and key in self.model_extra:
            return self.model_extra[key]
        raise KeyError(key)
