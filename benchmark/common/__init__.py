"""What every layer uses: atomic file writing (``io``), profiles (``profiles``) and provenance."""
