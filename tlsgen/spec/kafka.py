"""The spec's Kafka authorization settings as users write them: the cluster-wide `kafka:` section
(principal mapping rules, super users, the admin client) and each client's and worker's `acls:`.

pydantic models, frozen, unknown keys rejected, no I/O; `model/kafka_rules.py` judges what needs the
whole spec (rules Kafka refuses, names that do not exist, operations a resource type does not take).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ..diagnostics import did_you_mean
from ..model.acls import OPERATIONS, RESOURCE_KEYS

_DOC_RULES = ("ssl.principal.mapping.rules, one rule per item, in order: DEFAULT or "
              "RULE:pattern/replacement/[L|U] (a Java regex matched against the whole RFC 2253 subject; "
              "the first that matches wins; none: Kafka refuses the client); default [DEFAULT]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _operation(value: Any) -> Any:
    """Kafka's AclOperation names, written as the spec writes choices: lowercase with '_'."""
    if isinstance(value, str) and value not in OPERATIONS:
        # kafka-acls spells them DescribeConfigs (SecurityUtils.operationName); say the spec's spelling
        pascal = {name.replace("_", ""): name for name in OPERATIONS}.get(value.lower().replace("_", ""))
        hint = f"write {pascal}" if pascal else did_you_mean(value, OPERATIONS)
        raise PydanticCustomError("operation", "unknown operation '{v}'{hint}; Kafka's operations: {allowed}",
                                  {"v": value, "hint": f" ({hint})" if hint else "", "allowed": ", ".join(OPERATIONS)})
    return value


Operation = Annotated[Literal[OPERATIONS], BeforeValidator(_operation)]


class AclSpec(_Strict):
    """One ACL binding: what the entity's principal may (or, with allow: false, may not) do to one resource."""

    topic: str | None = Field(None, min_length=1, description="a topic name ('*': every topic), or its prefix "
                                                               "with pattern: prefixed")
    group: str | None = Field(None, min_length=1, description="a consumer group id ('*': every group), or its prefix")
    cluster: Union[Literal[True], Literal["kafka-cluster"], None] = Field(None, description=(
        "true (or kafka-cluster, the cluster resource's only name): the cluster itself"))
    transactional_id: str | None = Field(None, min_length=1, description=(
        "a transactional.id ('*': every one), or its prefix"))
    pattern: Literal["literal", "prefixed"] = Field("literal", description=(
        "literal: the name exactly ('*' matches every name); prefixed: every name that starts with it"))
    operations: list[Operation] = Field(description="what the binding allows or denies: " + ", ".join(OPERATIONS))
    allow: bool = Field(True, description="true: --allow-principal; false: --deny-principal (a deny wins over "
                                          "every allow)")
    host: str = Field("*", min_length=1, description="the client IP address the binding applies to; '*': any")

    @model_validator(mode="before")
    @classmethod
    def _one_resource(cls, value: Any) -> Any:
        if isinstance(value, dict) and set(value) <= set(cls.model_fields):  # else: unknown keys, said first
            named = [key for key in RESOURCE_KEYS if value.get(key) is not None]
            if len(named) != 1:
                raise PydanticCustomError(
                    "acl_resource", "a binding names one resource: {keys}{found}",
                    {"keys": ", ".join(f"{k}: NAME" if k != "cluster" else "cluster: true" for k in RESOURCE_KEYS),
                     "found": f" (this one names {' and '.join(named)}; write one binding each)" if named else ""})
        return value


AclList = Annotated[list[AclSpec], Field(description=(
    "Kafka ACLs for this entity's principal, added by out/kafka-acls.sh, such as "
    "{topic: invoices, operations: [read, describe]}"))]


class KafkaSpec(_Strict):
    """Cluster-wide Kafka settings: how brokers map certificates to principals, and who may do everything."""

    principal_mapping_rules: list[str] = Field(["DEFAULT"], description=_DOC_RULES)
    super_users: list[str] = Field([], description=(
        "super.users: entity names (their principals as the brokers map them) or raw principals such as "
        "User:admin; the brokers and the admin client are added when there are ACLs or super users"))
    admin: str | None = Field(None, min_length=1, description=(
        "the client whose client.properties out/kafka-acls.sh uses by default (it becomes a super user: adding "
        "ACLs needs Alter on the cluster); none: pass a properties file to the script"))
