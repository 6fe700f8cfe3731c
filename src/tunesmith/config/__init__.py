"""Configuration: frozen pydantic models, safe YAML loading and dotted overrides."""
