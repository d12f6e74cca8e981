"""The resolved spec (the topology every other part works from), and how a spec becomes one."""

from .topology import (CA, CA_DEFAULT_VALIDITY, KEY_TYPES, KINDS, SERVING_KINDS, STORE_FORMATS, SUBJECT_ORDER, Compose,
                       Entity, ImportedCA, Kubernetes, Origin, Secret, Spec, Strimzi, Subject, Trusted, chain_of,
                       subject_text)

__all__ = ["CA", "CA_DEFAULT_VALIDITY", "KEY_TYPES", "KINDS", "SERVING_KINDS", "STORE_FORMATS", "SUBJECT_ORDER", "Compose",
           "Entity", "ImportedCA", "Kubernetes", "Origin", "Secret", "Spec", "Strimzi", "Subject", "Trusted", "chain_of",
           "subject_text"]
