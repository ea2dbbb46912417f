"""Recipes: the declarative YAML a user reads and edits, validated into typed objects."""

from edgekit.recipe.loader import load_recipe, recipe_summaries
from edgekit.recipe.schema import Recipe

__all__ = ["Recipe", "load_recipe", "recipe_summaries"]
