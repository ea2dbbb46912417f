"""Model families that edgekit knows how to build, load and export."""
