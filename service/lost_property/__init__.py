"""The lost-property desk: describing found items (category, colours), the register, and matching
a citizen's description or photo against it (docs/lost_property.md)."""
