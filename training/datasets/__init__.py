"""Dataset tools: import, remap, merge, split, validate. Everything ends in one YOLO layout."""
