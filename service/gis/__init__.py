"""Georeferencing, deduplication, road condition grades and the OGC API – Features plumbing."""

# Collection ids of the OGC API, also the `category` of damage records.
ROAD_DAMAGE = "road_damage"
GRAFFITI = "graffiti"
ROAD_CONDITION = "road_condition"
