"""Per-language tree-sitter queries: definitions, control flow, imports and calls.

One "structure" query per language captures, in a single pass over the tree:
- `def.function`, `def.class`, `def.method`, `def.interface`, `def.container` (Rust `impl` blocks:
  they name their methods' parent but are not symbols themselves);
- `nest` (statements that open a nesting level), `elseif` (an `if` in an else branch, which does
  not nest further), `branch` (decision points for cyclomatic complexity), `nest.branch` (both:
  one capture instead of two for the same node);
- `import` / `import.require` (import statements and `require("...")` / `import("...")` calls);
- `export` (JS/TS export statements) and `assign.top` (Python module-level assignments);
- `rule.*`: nodes the file rules need that are common enough to be worth collecting in the same
  pass (Python `+=` and string-literal assignments).
A second, optional "calls" query captures `call.name` (`f(...)`) and `call.attr` (`x.f(...)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from tree_sitter import Query

from codecortex.syntax.grammars import get_language

_PYTHON = r"""
(function_definition) @def.function
(class_definition) @def.class
[(if_statement) (for_statement) (while_statement)] @nest.branch
[(try_statement) (with_statement) (match_statement)] @nest
[(elif_clause) (except_clause) (conditional_expression) (boolean_operator)
 (for_in_clause) (if_clause) (case_clause)] @branch
[(import_statement) (import_from_statement)] @import
(module (expression_statement (assignment left: (identifier) @assign.top)))
(augmented_assignment left: (identifier) operator: "+="
  right: [(string) (concatenated_string) (identifier) (binary_operator) (call) (subscript)
          (attribute)]) @rule.concat
(assignment left: (identifier) right: [(string) (concatenated_string)]) @rule.strassign
"""

_JS_COMMON = r"""
[(function_declaration) (generator_function_declaration)] @def.function
(method_definition) @def.method
(class_declaration) @def.class
(variable_declarator value: [(arrow_function) (function_expression)] @def.function)
[(if_statement) (for_statement) (for_in_statement) (while_statement) (do_statement)] @nest.branch
[(try_statement) (switch_statement)] @nest
(else_clause (if_statement) @elseif)
[(catch_clause) (ternary_expression) (switch_case)] @branch
(binary_expression operator: ["&&" "||" "??"] @branch)
(import_statement) @import
(export_statement source: (_)) @import
(call_expression function: (identifier) @_fn arguments: (arguments . (string) @import.require)
  (#eq? @_fn "require"))
(call_expression function: (import) arguments: (arguments . (string) @import.require))
(export_statement) @export
"""

_TS_EXTRA = r"""
(interface_declaration) @def.interface
(abstract_class_declaration) @def.class
"""

_GO = r"""
(function_declaration) @def.function
(method_declaration) @def.method
(type_spec type: (struct_type)) @def.class
(type_spec type: (interface_type)) @def.interface
[(if_statement) (for_statement)] @nest.branch
[(expression_switch_statement) (type_switch_statement) (select_statement)] @nest
(if_statement alternative: (if_statement) @elseif)
[(expression_case) (type_case) (communication_case)] @branch
(binary_expression operator: ["&&" "||"] @branch)
(import_spec) @import
"""

_RUST = r"""
(function_item) @def.function
[(struct_item) (enum_item) (union_item)] @def.class
(trait_item) @def.interface
(impl_item) @def.container
[(if_expression) (for_expression) (while_expression)] @nest.branch
[(match_expression) (loop_expression)] @nest
(else_clause (if_expression) @elseif)
(match_arm) @branch
(binary_expression operator: ["&&" "||"] @branch)
(use_declaration) @import
(mod_item !body) @import
"""

_JAVA = r"""
[(class_declaration) (enum_declaration) (record_declaration)] @def.class
(interface_declaration) @def.interface
[(method_declaration) (constructor_declaration)] @def.method
[(if_statement) (for_statement) (enhanced_for_statement) (while_statement) (do_statement)]
  @nest.branch
[(try_statement) (try_with_resources_statement) (switch_expression)] @nest
(if_statement alternative: (if_statement) @elseif)
[(catch_clause) (ternary_expression)] @branch
(switch_label (_)) @branch
(binary_expression operator: ["&&" "||"] @branch)
(import_declaration) @import
"""

_CALLS = {
    "python": r"""
(call function: (identifier) @call.name)
(call function: (attribute object: (identifier) attribute: (identifier)) @call.attr)
""",
    "javascript": r"""
(call_expression function: (identifier) @call.name)
(new_expression constructor: (identifier) @call.name)
(call_expression function: (member_expression object: (identifier) property: (property_identifier))
  @call.attr)
""",
    "go": r"""
(call_expression function: (identifier) @call.name)
(call_expression function: (selector_expression operand: (identifier) field: (field_identifier))
  @call.attr)
""",
    "rust": r"""
(call_expression function: (identifier) @call.name)
(call_expression function: (scoped_identifier path: (identifier) name: (identifier)) @call.attr)
""",
    "java": r"""
(object_creation_expression type: (type_identifier) @call.name)
(method_invocation object: (identifier) name: (identifier)) @call.attr
""",
}
_CALLS["typescript"] = _CALLS["tsx"] = _CALLS["javascript"]

# field names of (receiver, member) in a `call.attr` node
ATTR_FIELDS: dict[str, tuple[str, str]] = {
    "python": ("object", "attribute"),
    "javascript": ("object", "property"),
    "typescript": ("object", "property"),
    "tsx": ("object", "property"),
    "go": ("operand", "field"),
    "rust": ("path", "name"),
    "java": ("object", "name"),
}

STRUCTURE: dict[str, str] = {
    "python": _PYTHON,
    "javascript": _JS_COMMON,
    "typescript": _JS_COMMON + _TS_EXTRA,
    "tsx": _JS_COMMON + _TS_EXTRA,
    "go": _GO,
    "rust": _RUST,
    "java": _JAVA,
}

# node types that hold a sequence of statements (for "smallest enclosing statement")
BLOCK_TYPES = frozenset(
    {
        "module",
        "block",
        "program",
        "statement_block",
        "class_body",
        "source_file",
        "statement_list",
        "declaration_list",
        "interface_body",
        "enum_body",
        "switch_body",
        "switch_block",
        "switch_block_statement_group",
        "constructor_body",
        "field_declaration_list",
        "match_block",
    }
)

# definition node types per language (for the enclosing-function walk)
DEFINITION_TYPES: dict[str, frozenset[str]] = {
    "python": frozenset({"function_definition", "class_definition"}),
    "javascript": frozenset(
        {
            "function_declaration",
            "generator_function_declaration",
            "method_definition",
            "class_declaration",
            "arrow_function",
            "function_expression",
        }
    ),
    "go": frozenset({"function_declaration", "method_declaration", "type_spec"}),
    "rust": frozenset(
        {"function_item", "struct_item", "enum_item", "union_item", "trait_item", "impl_item"}
    ),
    "java": frozenset(
        {
            "class_declaration",
            "enum_declaration",
            "record_declaration",
            "interface_declaration",
            "method_declaration",
            "constructor_declaration",
        }
    ),
}
DEFINITION_TYPES["typescript"] = DEFINITION_TYPES["tsx"] = DEFINITION_TYPES["javascript"] | {
    "interface_declaration",
    "abstract_class_declaration",
}


@dataclass(frozen=True, slots=True)
class Queries:
    structure: Query
    calls: Query


@cache
def structure_with_calls(language: str) -> Query:
    """The structure query and the calls query as one (compiled once per process): one pass over
    the tree instead of two when the calls are wanted; the captures are those of both."""
    return Query(get_language(language), STRUCTURE[language] + _CALLS[language])


@cache
def queries(language: str) -> Queries:
    """Compiled queries for a grammar name (compiled once per process)."""
    lang = get_language(language)
    return Queries(Query(lang, STRUCTURE[language]), Query(lang, _CALLS[language]))
