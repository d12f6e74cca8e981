"""What users write: the YAML loader with places, the pydantic schema, and its errors in their words."""
