"""tlsgen: one YAML spec → CAs, keys, certificates, stores and configs for Kafka with mutual TLS."""

__version__ = "0.1.0"
