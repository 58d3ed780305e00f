"""``ToolSpec``: a tool's name, description and JSON Schema (draft 2020-12) of its arguments.

Build one from a plain Python function (type hints + docstring), a pydantic model, an OpenAI
function-tool dict, a LangChain ``BaseTool`` or an MCP tool; :meth:`ToolSpec.to_openai` goes
back. Every spec is checked when it is made (a bad name or schema raises :class:`ToolSpecError`
saying what to fix) and compiled once, so :meth:`ToolSpec.validate_arguments` is cheap on the
hot path.

Names follow MCP (SEP-986): 1-128 ASCII letters, digits, ``_``, ``-`` and ``.`` (``math.gcd``, as
in BFCL). Some providers are stricter (OpenAI: ``^[a-zA-Z0-9_-]{1,64}$``): such a name is still a
valid spec, and :meth:`ToolSpec.name_issues` says which providers would refuse it and why.

Unknown argument names are errors unless the schema allows extra properties explicitly: a
spec whose top-level schema says nothing about extra properties gets
``"additionalProperties": false`` (``"unevaluatedProperties": false`` when its properties come
from ``$ref``/``allOf``/...), and the pydantic-based constructors close nested objects too.

This module knows schemas, not calls: parsing model output and scoring it is the scorer's job.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from referencing import Registry

from agent_rl._schema import (
    SchemaValidator,
    close_objects,
    json_copy,
    json_type,
    model_schema,
    no_schema_error,
    parse_docstring,
)
from agent_rl.errors import ToolSpecError
from agent_rl.verdicts import ErrorEntry

__all__ = ["ToolSpec"]

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
"""MCP's tool-name rule (SEP-986), the widest the ecosystem writes."""
PROVIDER_NAME_RULES: dict[str, re.Pattern[str]] = {"openai": re.compile(r"^[a-zA-Z0-9_-]{1,64}$")}
"""Providers whose tool-name rule is stricter than MCP's (see ``ToolSpec.name_issues``)."""
_EMPTY_ARGS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


class ToolSpec(BaseModel):
    """A tool as a model sees it: ``name``, ``description`` and the ``parameters`` schema.

    >>> spec = ToolSpec(name="add", description="Add two integers.", parameters={
    ...     "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    ...     "required": ["a", "b"]})
    >>> spec.validate_arguments({"a": 1, "b": 2})
    []
    >>> [e.type for e in spec.validate_arguments({"a": "1", "c": 2})]
    ['wrong_type', 'missing_argument', 'unknown_argument']

    ``registry`` (a ``referencing.Registry``) resolves ``$ref``s to other documents; nothing is
    ever fetched from the network. ``strict`` is OpenAI's flag, kept for :meth:`to_openai`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: json_copy(_EMPTY_ARGS))
    strict: bool | None = None
    registry: SkipJsonSchema[Registry[Any] | None] = Field(default=None, exclude=True, repr=False)

    _validator: SchemaValidator = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            first = e.errors()[0]
            cause = first.get("ctx", {}).get("error")
            if isinstance(cause, ToolSpecError):
                raise cause from None
            where = ".".join(str(p) for p in first["loc"]) or "ToolSpec"
            raise ToolSpecError(
                f"invalid ToolSpec: {where}: {first['msg']}. A ToolSpec takes name (str), "
                "description (str) and parameters (a JSON Schema object)."
            ) from None

    @model_validator(mode="before")
    @classmethod
    def _copy_and_close(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("parameters"), Mapping):
            data = {**data, "parameters": close_objects(json_copy(data["parameters"]), deep=False)}
        return data

    def model_post_init(self, context: Any, /) -> None:
        if not _NAME.match(self.name):
            fixed = re.sub(r"[^a-zA-Z0-9._-]+", "_", self.name).strip("_")[:128] or "my_tool"
            raise ToolSpecError(
                f"tool name {self.name!r} is invalid: names must be 1-128 letters, digits, '_', "
                f"'-' or '.' (MCP's rule). Rename it, e.g. {fixed!r}."
            )
        if self.parameters.get("type") != "object":
            raise ToolSpecError(
                f'the parameters of tool {self.name!r} must be an object schema, got "type": '
                f"{json.dumps(self.parameters.get('type'))}. Arguments are a JSON object: set "
                '"type": "object" and describe each argument under "properties".'
            )
        try:
            validator = _validator(self.parameters, self.registry)
        except ToolSpecError as e:
            raise ToolSpecError(f"tool {self.name!r}: {e}") from None
        self._validator = validator

    def name_issues(self) -> dict[str, str]:
        """Providers that would refuse this tool's name, each with the reason (``{}``: none).

        >>> list(ToolSpec(name="math.gcd").name_issues())
        ['openai']
        """
        issues = {}
        for provider, rule in PROVIDER_NAME_RULES.items():
            if not rule.match(self.name):
                fixed = re.sub(r"[^a-zA-Z0-9_-]", "_", self.name)[:64]
                issues[provider] = (
                    f"{self.name!r} does not match OpenAI's {rule.pattern} "
                    f"(rename it or map it, e.g. {fixed!r})"
                )
        return issues

    # -- validation (the scorer's hot path) ----------------------------------------------------

    def validate_arguments(self, args: Any) -> list[ErrorEntry]:
        """Every reason ``args`` is not a valid argument object for this tool; ``[]`` if valid.

        Kinds: ``arguments_not_object``, ``missing_argument``, ``unknown_argument``,
        ``wrong_type``, ``invalid_value``, ``schema_violation``; ``loc`` starts with
        ``"arguments"``. Never raises on any value.
        """
        validator = self.__pydantic_private__["_validator"]
        if validator.check(args):
            return []
        if not isinstance(args, dict):
            msg = f"arguments must be a JSON object, got {json_type(args)}"
            if isinstance(args, str | bytes):
                msg += " (JSON text? parse it into an object first)"
            return [ErrorEntry("arguments_not_object", msg, ("arguments",))]
        return validator.explain(args)

    def accepts(self, args: Any) -> bool:
        """``True`` if ``args`` is valid: :meth:`validate_arguments` without the details."""
        return not self.validate_arguments(args)

    @property
    def compiled(self) -> bool:
        """Whether the schema runs on the compiled fast path (else jsonschema alone)."""
        return bool(self.__pydantic_private__["_validator"].fast)

    # -- identity, copies, pickling -------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ToolSpec):
            return NotImplemented
        return self._key() == other._key() and self.registry is other.registry

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[Any, ...]:
        params = json.dumps(self.parameters, sort_keys=True)
        return (self.name, self.description, params, self.strict)

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> ToolSpec:
        """A checked copy (``update`` goes through the same validation as the constructor)."""
        return type(self)(**{**dict(self), **(update or {})})

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__pydantic_private__"] = {}  # generated code: rebuilt on load
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._validator = _validator(self.parameters, self.registry)

    # -- conversions ----------------------------------------------------------------------------

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI function-tool form: ``{"type": "function", "function": {...}}``."""
        function: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "parameters": json_copy(self.parameters),
        }
        if self.strict is not None:
            function["strict"] = self.strict
        return {"type": "function", "function": function}

    @classmethod
    def from_openai(
        cls, tool: Mapping[str, Any], *, registry: Registry[Any] | None = None
    ) -> ToolSpec:
        """From ``{"type": "function", "function": {...}}`` or the bare ``{"name", ...}`` form."""
        if not isinstance(tool, Mapping):
            raise ToolSpecError(f"an OpenAI tool is a dict, got {type(tool).__name__}.")
        kind = tool.get("type", "function")
        function = tool.get("function", tool) if kind == "function" else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ToolSpecError(
                'not an OpenAI function tool: expected {"type": "function", "function": '
                '{"name": ..., "description": ..., "parameters": {...}}} or the bare '
                f'{{"name", "description", "parameters"}} form, got keys {sorted(map(str, tool))}.'
            )
        parameters = function.get("parameters")
        if parameters is None or parameters == {}:
            parameters = json_copy(_EMPTY_ARGS)
        elif isinstance(parameters, Mapping) and "type" not in parameters:
            parameters = {"type": "object", **parameters}
        return cls(
            name=function["name"],
            description=function.get("description") or "",
            parameters=parameters,
            strict=function.get("strict"),
            registry=registry,
        )

    @classmethod
    def from_mcp(cls, tool: Any, *, registry: Registry[Any] | None = None) -> ToolSpec:
        """From an MCP tool: the ``mcp`` SDK's ``Tool`` (v1 ``inputSchema`` or v2
        ``input_schema``) or its wire dict ``{"name", "description", "inputSchema"}``.

        The ``mcp`` package is not imported: anything with those fields works.
        """
        if isinstance(tool, Mapping):
            name, description = tool.get("name"), tool.get("description")
            schema = tool.get("inputSchema", tool.get("input_schema"))
        else:
            name, description = getattr(tool, "name", None), getattr(tool, "description", None)
            schema = getattr(tool, "input_schema", getattr(tool, "inputSchema", None))
        if not isinstance(name, str) or not isinstance(schema, Mapping):
            raise ToolSpecError(
                "not an MCP tool: expected the mcp SDK's Tool or a dict with 'name' (a string) "
                f"and 'inputSchema' (a JSON Schema object), got {type(tool).__name__}."
            )
        return cls(
            name=name,
            description=description or "",
            parameters=dict(schema) or json_copy(_EMPTY_ARGS),
            registry=registry,
        )

    @classmethod
    def from_pydantic(
        cls, model: type[BaseModel], *, name: str | None = None, description: str | None = None
    ) -> ToolSpec:
        """From a pydantic model whose fields are the arguments (name: the class name)."""
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ToolSpecError(f"from_pydantic takes a pydantic BaseModel class, got {model!r}.")
        summary, arg_docs = parse_docstring(model.__doc__ or "")
        schema = model_schema(model, model.__name__)
        schema.pop("description", None)
        for key, prop in schema.get("properties", {}).items():
            if isinstance(prop, dict) and "description" not in prop and key in arg_docs:
                prop["description"] = arg_docs[key]
        return cls(
            name=name or model.__name__,
            description=summary if description is None else description,
            parameters=close_objects(schema, deep=True),
        )

    @classmethod
    def from_function(
        cls, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
    ) -> ToolSpec:
        """From a function: hints -> schema, docstring -> descriptions, defaults -> optional."""
        target = fn.func if isinstance(fn, functools.partial) else fn  # its name and docstring
        fn_name = name or getattr(target, "__name__", None) or type(fn).__name__
        try:
            signature = inspect.signature(fn, eval_str=True)
        except (TypeError, ValueError, NameError) as e:
            raise ToolSpecError(f"cannot read the signature of {fn_name!r}: {e}.") from None
        summary, arg_docs = parse_docstring(inspect.getdoc(target) or "")
        fields: dict[str, Any] = {}
        for i, (pname, param) in enumerate(signature.parameters.items()):
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                star = "*" if param.kind is param.VAR_POSITIONAL else "**"
                raise ToolSpecError(
                    f"{fn_name}({star}{pname}) cannot be a tool argument: a tool call passes "
                    "named arguments as one JSON object, so every argument needs a name and a "
                    "type. Replace it with explicit parameters (or a list/dict parameter)."
                )
            hint = Any if param.annotation is param.empty else param.annotation
            described = any(
                getattr(m, "description", None) for m in getattr(hint, "__metadata__", ())
            )
            extra = {"description": arg_docs[pname]} if pname in arg_docs and not described else {}
            default = ... if param.default is param.empty else param.default
            fields[f"a{i}"] = (hint, Field(default, alias=pname, **extra))
        try:
            model = create_model(f"{fn_name}_arguments", **fields)
        except Exception as e:  # pydantic raises several types for types it cannot describe
            raise no_schema_error(fn_name, e) from None
        return cls(
            name=fn_name,
            description=summary if description is None else description,
            parameters=close_objects(model_schema(model, fn_name), deep=True),
        )

    @classmethod
    def from_langchain(cls, tool: Any) -> ToolSpec:
        """From a LangChain ``BaseTool`` (``@tool`` functions, ``StructuredTool``, subclasses),
        with the schema LangChain itself sends to a model (``convert_to_openai_tool``)."""
        from langchain_core.tools import BaseTool
        from langchain_core.utils.function_calling import convert_to_openai_tool

        if not isinstance(tool, BaseTool):
            raise ToolSpecError(f"from_langchain takes a langchain_core BaseTool, got {tool!r}.")
        function = convert_to_openai_tool(tool)["function"]
        parameters = function.get("parameters") or json_copy(_EMPTY_ARGS)
        return cls(
            name=function["name"],
            description=function.get("description") or "",
            parameters=close_objects(json_copy(parameters), deep=True),
            strict=function.get("strict"),
        )


# -- helpers -----------------------------------------------------------------------------------


def _validator(parameters: dict[str, Any], registry: Registry[Any] | None) -> SchemaValidator:
    if registry is not None:  # a registry's contents may change what a $ref means
        return SchemaValidator(parameters, registry)
    return _cached_validator(json.dumps(parameters))


@functools.lru_cache(maxsize=512)
def _cached_validator(parameters_json: str) -> SchemaValidator:
    """Validators are immutable: specs with the same schema share one (built in ~ms)."""
    return SchemaValidator(json.loads(parameters_json))
